import BrokerKit
import Foundation
import Logging
import ServiceLifecycle
import UnixSignals

/// Reloads the configuration when a resource file is added, changed or removed (polled every
/// `interval`; a change is applied once two polls in a row agree, so a file still being written is
/// not read half-way: within about 2 s of the last write) and on SIGHUP.
struct ConfigWatcher: Service {
    let paths: [String]
    let reloader: ConfigReloader
    var interval: Duration = .milliseconds(500)

    func run() async throws {
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                for await _ in await UnixSignalsSequence(trapping: .sighup) {
                    _ = await reloader.reload()
                }
            }
            await poll()
            group.cancelAll()
        }
    }

    private func poll() async {
        let paths = paths
        var applied = (try? await runBlocking { Self.fingerprint(paths) }) ?? ""
        var seen = applied
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            do { try await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) } } catch { return }
            guard let now = try? await runBlocking({ Self.fingerprint(paths) }) else { continue }
            if now != applied && now == seen {
                applied = now
                _ = await reloader.reload()
            }
            seen = now
        }
    }

    /// Every resource file under `paths` with its size and modification time.
    static func fingerprint(_ paths: [String]) -> String {
        var lines: [String] = []
        let fm = FileManager.default
        for path in paths {
            var isDirectory: ObjCBool = false
            guard fm.fileExists(atPath: path, isDirectory: &isDirectory) else { continue }
            let files = isDirectory.boolValue
                ? ((try? fm.contentsOfDirectory(atPath: path)) ?? []).filter { $0.hasSuffix(".yaml") || $0.hasSuffix(".yml") }.sorted().map { "\(path)/\($0)" }
                : [path]
            for file in files {
                let attributes = (try? fm.attributesOfItem(atPath: file)) ?? [:]
                let modified = (attributes[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0
                lines.append("\(file)|\(attributes[.size] as? Int ?? -1)|\(modified)")
            }
        }
        return lines.joined(separator: "\n")
    }
}
