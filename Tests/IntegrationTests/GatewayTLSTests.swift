import Foundation
import Testing

/// `https://` Apps: Courier verifies the app's certificate (chain and name, or IP) before it
/// delivers anything. The apps are plain test servers behind a TLS front (Tests/clients/tls_proxy.py)
/// with a certificate from a CA made here with openssl.
@Suite struct GatewayTLSTests {
    /// A CA and a server certificate for localhost / 127.0.0.1 in `dir`: (ca, cert, key).
    static func certificates(in dir: String) throws -> (String, String, String) {
        func openssl(_ arguments: [String]) throws {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
            p.arguments = arguments
            p.standardOutput = FileHandle.nullDevice
            p.standardError = FileHandle.nullDevice
            try p.run()
            p.waitUntilExit()
            guard p.terminationStatus == 0 else { throw TestFailure("openssl \(arguments.first ?? "") failed") }
        }
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try openssl(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=courier-gateway-test-ca",
                     "-keyout", dir + "/ca.key", "-out", dir + "/ca.pem"])
        try openssl(["req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost", "-keyout", dir + "/server.key", "-out", dir + "/server.csr"])
        try "subjectAltName=DNS:localhost,IP:127.0.0.1\n".write(toFile: dir + "/san.ext", atomically: true, encoding: .utf8)
        try openssl(["x509", "-req", "-in", dir + "/server.csr", "-CA", dir + "/ca.pem", "-CAkey", dir + "/ca.key", "-CAcreateserial",
                     "-days", "2", "-extfile", dir + "/san.ext", "-out", dir + "/server.pem"])
        return (dir + "/ca.pem", dir + "/server.pem", dir + "/server.key")
    }

    /// tls_proxy.py in front of `target`; returns the process and its port.
    static func tlsFront(cert: String, key: String, target: Int) async throws -> (Process, Int) {
        let port = try PortAllocator.free()
        let p = Process()
        p.executableURL = URL(fileURLWithPath: BrokerCtl.python!)
        p.arguments = [URL(fileURLWithPath: BrokerCtl.script).deletingLastPathComponent().appendingPathComponent("tls_proxy.py").path,
                       "\(port)", cert, key, "\(target)"]
        p.standardOutput = FileHandle.nullDevice
        // Not the test's stderr: `swift test` waits for every holder of its pipe to close it.
        p.standardError = FileHandle.nullDevice
        try p.run()
        try await PortAllocator.waitUntilListening(port)
        return (p, port)
    }

    @Test func httpsAppsAreVerified() async throws {
        guard BrokerCtl.available(), FileManager.default.isExecutableFile(atPath: "/usr/bin/openssl") else { return }
        let run = UUID().uuidString.prefix(6).lowercased()
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("courier-tls-\(run)").path
        // Key generation blocks: off the cooperative pool the other tests share.
        let (ca, cert, key) = try await BrokerCtl.offPool { try Self.certificates(in: dir) }
        let topic = "tls-\(run)"
        let byName = try await TestSubscriber(subscriptions: "[\(subscription(topic: topic, route: "/n"))]")
        let byIP = try await TestSubscriber(subscriptions: "[\(subscription(topic: topic, route: "/i"))]")
        let untrusted = try await TestSubscriber(subscriptions: "[\(subscription(topic: topic, route: "/u"))]")
        var fronts: [Process] = []
        // SIGKILL: a child inherits the in-process Courier's ignored SIGTERM.
        defer { for p in fronts { kill(p.processIdentifier, SIGKILL) } }
        let (f1, p1) = try await Self.tlsFront(cert: cert, key: key, target: byName.port)
        let (f2, p2) = try await Self.tlsFront(cert: cert, key: key, target: byIP.port)
        let (f3, p3) = try await Self.tlsFront(cert: cert, key: key, target: untrusted.port)
        fronts = [f1, f2, f3]
        let resources = [
            "pubsub.yaml": Harness.defaultPubsub,
            "name.yaml": "apiVersion: courier/v1alpha1\nkind: App\nmetadata: { name: byname }\nspec:\n  baseUrl: https://localhost:\(p1)\n  caFile: \(ca)\n",
            "ip.yaml": "apiVersion: courier/v1alpha1\nkind: App\nmetadata: { name: byip }\nspec:\n  baseUrl: https://127.0.0.1:\(p2)\n  caFile: \(ca)\n",
            // The system's roots do not hold the test CA: nothing may reach this app.
            "untrusted.yaml": "apiVersion: courier/v1alpha1\nkind: App\nmetadata: { name: untrusted }\nspec:\n  baseUrl: https://localhost:\(p3)\n",
        ]
        do {
            try await withHarness(resources: resources, withApp: false) { h in
                _ = try await GatewayTests.waitUntilLive(h, ["byname": 1, "byip": 1])
                for n in 0..<10 { #expect(try await h.publish("pubsub/\(topic)", #"{"n":\#(n)}"#).status == 204) }
                #expect(try await byName.wait(for: 10, path: "/n", timeout: 30).count == 10, "over TLS, verified by name")
                #expect(try await byIP.wait(for: 10, path: "/i", timeout: 30).count == 10, "over TLS, verified by IP")
                #expect(untrusted.requests.isEmpty, "an untrusted certificate: not even /dapr/subscribe reached the app")
                let apps = try await h.request(.GET, "/v1.0-alpha1/apps").body
                #expect(apps.contains("https://localhost:\(p1)"), "\(apps)")
            }
        } catch {
            for s in [byName, byIP, untrusted] { await s.stop() }
            throw error
        }
        for s in [byName, byIP, untrusted] { await s.stop() }
        try? FileManager.default.removeItem(atPath: dir)
    }
}
