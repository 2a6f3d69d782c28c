import BrokerKit
import CloudEvents
import Foundation
import Resources

/// `pubsub.mqtt3` component metadata (spec §10.4).
struct MQTTOptions: Sendable {
    var host = "localhost"
    var port = 1883
    var username: String?
    var password: String?
    var tls = false
    var caCert: String?
    var clientCert: String?
    var clientKey: String?
    var qos: Int32 = 1
    var retain = false
    var cleanSession = false
    /// The MQTT client id (`consumerID`, `{uuid}` expanded by the resource loader).
    var clientID: String

    init(component: Component, appID: String) throws(BrokerError) {
        let md = component.metadata
        func fail(_ message: String) -> BrokerError { BrokerError(.configuration, "\(component.name): \(message)") }
        guard let raw = md["url"], !raw.isEmpty else { throw fail("url is required (tcp://host:1883 or ssl://host:8883)") }
        let withScheme = raw.contains("://") ? raw : "tcp://" + raw
        guard let url = URLComponents(string: withScheme), let scheme = url.scheme?.lowercased() else { throw fail("url is not a URL: '\(raw)'") }
        switch scheme {
        case "tcp", "mqtt": tls = false
        case "ssl", "tls", "mqtts", "tcps": tls = true
        default: throw fail("url scheme must be tcp or ssl, not '\(scheme)'")
        }
        host = url.host.flatMap { $0.isEmpty ? nil : $0 } ?? "localhost"
        port = url.port ?? (tls ? 8883 : 1883)
        username = url.user?.removingPercentEncoding
        password = url.password?.removingPercentEncoding
        caCert = md["caCert"]
        clientCert = md["clientCert"]
        clientKey = md["clientKey"]
        if (clientCert == nil) != (clientKey == nil) { throw fail("clientCert and clientKey must be set together") }
        if let q = md["qos"], !q.isEmpty {
            guard let n = Int32(q), (0...2).contains(n) else { throw fail("qos must be 0, 1 or 2, not '\(q)'") }
            qos = n
        }
        let reader = OptionReader(component)
        retain = try reader.bool("retain") ?? false
        cleanSession = try reader.bool("cleanSession") ?? false
        clientID = md["consumerID"].flatMap { $0.isEmpty ? nil : $0 } ?? appID
    }
}
