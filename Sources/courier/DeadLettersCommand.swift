import ArgumentParser
import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

/// `courier deadletters list|redrive|status|cancel`: the dead-letter API of a running Courier
/// from the command line (it prints the API's JSON answers).
struct DeadLettersCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "deadletters", abstract: "List and redrive the dead letters of a running Courier.",
        subcommands: [List.self, Redrive.self, Status.self, Cancel.self])

    /// Where the running Courier listens, and the token to present.
    struct Target: ParsableArguments {
        @Option(help: "The Courier HTTP API.")
        var address = "http://127.0.0.1:3500"
        @Option(help: "API token (default: $DAPR_API_TOKEN).")
        var token: String?
        @Argument(help: "The pub/sub component.")
        var pubsub: String
        @Argument(help: "The dead-letter topic.")
        var topic: String

        var base: String {
            let topic = topic.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed) ?? topic
            return "\(address)/v1.0-alpha1/deadletters/\(pubsub)/\(topic)"
        }

        /// Sends a request, prints the answer's body, and fails on an error status.
        func call(_ method: HTTPMethod, _ url: String, body: String? = nil) async throws {
            var request = HTTPClientRequest(url: url)
            request.method = method
            if let token = token ?? ProcessInfo.processInfo.environment["DAPR_API_TOKEN"], !token.isEmpty {
                request.headers.add(name: "dapr-api-token", value: token)
            }
            if let body {
                request.headers.add(name: "content-type", value: "application/json")
                request.body = .bytes(ByteBuffer(string: body))
            }
            let response: HTTPClientResponse
            do {
                response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
            } catch {
                FileHandle.standardError.write(Data("courier deadletters: cannot reach \(address): \(error)\n".utf8))
                throw ExitCode(1)
            }
            let text = String(buffer: try await response.body.collect(upTo: 64 << 20))
            say(text)
            if response.status.code >= 400 { throw ExitCode(1) }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List a dead-letter topic's events, oldest first (one page).")
        @OptionGroup var target: Target
        @Option(help: "Events per page (1-1000).")
        var limit = 100
        @Option(help: "Start after this cursor (the previous page's `next`).")
        var after: String?

        func run() async throws {
            var url = "\(target.base)?limit=\(limit)"
            if let after { url += "&after=\(after.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? after)" }
            try await target.call(.GET, url)
        }
    }

    struct Redrive: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Start a redrive; prints its id.")
        @OptionGroup var target: Target
        @Option(help: "A CEL expression over the event (its deadletter* attributes included).")
        var filter: String?
        @Option(help: "Events per second.")
        var maxPerSecond: Double = 100
        @Flag(help: "Count and list what would be redriven; move nothing.")
        var dryRun = false
        @Flag(help: "Republish to the original topic (every subscriber gets it again) instead of the failing subscription.")
        var toTopic = false

        func run() async throws {
            var body: [String: Any] = ["maxPerSecond": maxPerSecond, "dryRun": dryRun, "target": toTopic ? "topic" : "subscription"]
            if let filter { body["filter"] = filter }
            let json = String(decoding: try JSONSerialization.data(withJSONObject: body), as: UTF8.self)
            try await target.call(.POST, "\(target.base)/redrive", body: json)
        }
    }

    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "A redrive's state and counts.")
        @OptionGroup var target: Target
        @Argument(help: "The redrive id.")
        var id: String

        func run() async throws { try await target.call(.GET, "\(target.base)/redrive/\(id)") }
    }

    struct Cancel: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Cancel a redrive (what was redriven stays redriven).")
        @OptionGroup var target: Target
        @Argument(help: "The redrive id.")
        var id: String

        func run() async throws { try await target.call(.DELETE, "\(target.base)/redrive/\(id)") }
    }
}
