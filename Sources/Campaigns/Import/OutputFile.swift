import Foundation

/// A file a command is about to write (`--rejects`, `--csv`), checked against every file
/// the command reads before anything is opened for writing: writing opens with
/// truncation, so `salvo import L f.csv --rejects f.csv` would empty the very list it
/// imports.
///
/// Two names are the same file when they reach the same device and inode (a hard link,
/// a symbolic link, `./f.csv` and `f.csv` all do); a name that does not exist yet is
/// compared, made absolute, with the names of inputs that do not exist yet either (the
/// database `import` is about to create).
public enum OutputFile {
    public static func check(_ output: String, against inputs: [(role: String, path: String)]) throws(OutputFileError) {
        var outputInfo = stat()
        let outputExists = stat(output, &outputInfo) == 0
        for input in inputs {
            var inputInfo = stat()
            if stat(input.path, &inputInfo) == 0 {
                if outputExists, outputInfo.st_dev == inputInfo.st_dev, outputInfo.st_ino == inputInfo.st_ino {
                    throw OutputFileError(output: output, input: input.path, role: input.role)
                }
            } else if !outputExists, absolute(output) == absolute(input.path) {
                throw OutputFileError(output: output, input: input.path, role: input.role)
            }
        }
    }

    private static func absolute(_ path: String) -> String {
        URL(fileURLWithPath: path).standardizedFileURL.resolvingSymlinksInPath().path
    }
}

/// The output named is a file the command reads.
public struct OutputFileError: Error, CustomStringConvertible, Equatable {
    public var output: String
    public var input: String
    public var role: String
    public var description: String {
        let same = output == input ? "" : " (\(input))"
        return "\(output) is the \(role)\(same): writing it would destroy it; name another file"
    }
}
