import Foundation

extension FileHandle {
    /// Everything until end of file. Foundation's `readDataToEndOfFile()` traps when a
    /// read is interrupted by a signal (EINTR), and the tests' processes get signals: the
    /// children they kill end with SIGCHLD. This reads on, and throws any other error.
    public func readAllData() throws -> Data {
        var data = Data()
        while true {
            do {
                guard let chunk = try read(upToCount: 65_536), !chunk.isEmpty else { return data }
                data.append(chunk)
            } catch where Self.isInterrupted(error as NSError) {
                continue
            }
        }
    }

    /// EINTR, as Foundation reports it: a POSIX error, or one wrapped in a Cocoa error.
    private static func isInterrupted(_ error: NSError) -> Bool {
        if error.domain == NSPOSIXErrorDomain { return error.code == Int(EINTR) }
        return (error.userInfo[NSUnderlyingErrorKey] as? NSError).map(isInterrupted) ?? false
    }
}
