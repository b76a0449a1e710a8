import Foundation

/// A Maildir folder: one message per file in new/ and cur/ (tmp/ holds deliveries in
/// progress and is never read). Files are read in name order, which for names made the
/// usual way (seconds first) is delivery order; a file is never moved or flagged, so a
/// mail client or another import may read the folder too.
public struct MaildirFolder: BounceSource {
    public let path: String
    public var name: String { path }

    public init(path: String) { self.path = path }

    /// True when `path` looks like a Maildir: a folder with new/ or cur/ inside.
    public static func isMaildir(_ path: String) -> Bool {
        var folder: ObjCBool = false
        for sub in ["new", "cur"] where FileManager.default.fileExists(atPath: (path as NSString).appendingPathComponent(sub), isDirectory: &folder) && folder.boolValue {
            return true
        }
        return false
    }

    public func forEachMessage(_ body: (RawMailMessage) async throws -> Void) async throws {
        var files: [String] = []
        for sub in ["new", "cur"] {
            let folder = (path as NSString).appendingPathComponent(sub)
            guard FileManager.default.fileExists(atPath: folder) else { continue }
            let names: [String]
            do { names = try FileManager.default.contentsOfDirectory(atPath: folder) } catch {
                throw BounceSourceError("cannot read \(folder): \((error as NSError).localizedDescription)")
            }
            files += names.filter { !$0.hasPrefix(".") }.sorted().map { "\(sub)/\($0)" }
        }
        for file in files {
            let full = (path as NSString).appendingPathComponent(file)
            // A file a mail client moved or deleted since the listing is simply gone.
            guard let data = FileManager.default.contents(atPath: full) else { continue }
            try await body(RawMailMessage(place: full, bytes: [UInt8](data)))
        }
    }
}
