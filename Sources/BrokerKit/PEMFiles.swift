import Foundation

/// PEM texts from component metadata (`caCert`, `clientCert`, `clientKey`) written to a private
/// temporary directory (0700, files 0600) for C libraries that only take file paths.
public final class PEMFiles: Sendable {
    public let directory: String

    public init(prefix: String) {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)-\(UUID().uuidString)").path
        try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
    }

    /// Writes `pem` as `name` and returns its path; `nil` for no text.
    public func write(_ pem: String?, _ name: String) -> String? {
        guard let pem else { return nil }
        let path = directory + "/" + name
        _ = FileManager.default.createFile(atPath: path, contents: Data(pem.utf8), attributes: [.posixPermissions: 0o600])
        return path
    }

    /// Deletes the directory and its files.
    public func remove() { try? FileManager.default.removeItem(atPath: directory) }
}
