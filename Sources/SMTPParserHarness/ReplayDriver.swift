import Foundation

/// The plain-build `main` of every fuzz executable: runs the entry function over files (or every
/// file in folders) given as arguments, naming each before it runs.
public enum ReplayDriver {
    public static func main(target: String, entry: Harness.Entry) {
        let paths = Array(CommandLine.arguments.dropFirst())
        guard !paths.isEmpty else {
            FileHandle.standardError.write(Data("usage: Fuzz\(target) FILE|DIR…  (replays inputs; build with -DFUZZING for libFuzzer)\n".utf8))
            exit(2)
        }
        var count = 0
        for path in paths {
            for file in files(path) {
                FileHandle.standardError.write(Data("replaying \(file)\n".utf8))
                guard let data = FileManager.default.contents(atPath: file) else { continue }
                entry([UInt8](data))
                count += 1
            }
        }
        print("\(target): \(count) input(s) replayed, no crash")
    }

    /// The file itself, or every regular file directly in a folder (sorted).
    public static func files(_ path: String) -> [String] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { return [] }
        guard isDirectory.boolValue else { return [path] }
        let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
        return names.filter { !$0.hasPrefix(".") }.sorted().map { (path as NSString).appendingPathComponent($0) }
    }
}
