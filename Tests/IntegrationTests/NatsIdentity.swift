import Crypto
import Foundation

/// An NATS nkey (Ed25519) and the JWTs of NATS decentralized authentication, issued here so the
/// JetStream authentication test needs no `nsc` tool: operator → account → user.
struct NKey {
    enum Kind: UInt8 {
        case operator_ = 112  // 14 << 3: "O…"
        case account = 0  // "A…"
        case user = 160  // 20 << 3: "U…"
    }

    let kind: Kind
    let key = Curve25519.Signing.PrivateKey()

    /// The public key as NATS prints it (`O…`, `A…`, `U…`).
    var publicKey: String { Self.base32(Self.withCRC([kind.rawValue] + key.publicKey.rawRepresentation)) }

    /// The seed (`SO…`, `SA…`, `SU…`): what a client signs the server's nonce with.
    var seed: String {
        let seedPrefix: UInt8 = 144  // 18 << 3: "S"
        return Self.base32(Self.withCRC([seedPrefix | (kind.rawValue >> 5), (kind.rawValue & 31) << 3] + key.rawRepresentation))
    }

    /// A JWT about `subject` with `nats` claims, signed by this key (its issuer).
    func issue(subject: String, name: String, nats: [String: Any]) throws -> String {
        let header = try JSONSerialization.data(withJSONObject: ["typ": "JWT", "alg": "ed25519-nkey"], options: [.sortedKeys])
        let claims: [String: Any] = ["jti": UUID().uuidString, "iat": Int(Date().timeIntervalSince1970), "iss": publicKey,
                                     "sub": subject, "name": name, "nats": nats]
        let body = try JSONSerialization.data(withJSONObject: claims, options: [.sortedKeys])
        let signed = Self.base64URL(header) + "." + Self.base64URL(body)
        return signed + "." + Self.base64URL(try key.signature(for: Data(signed.utf8)))
    }

    private static func withCRC(_ bytes: [UInt8]) -> [UInt8] {
        var crc: UInt16 = 0  // CRC-16/XMODEM, appended little-endian
        for byte in bytes {
            crc ^= UInt16(byte) << 8
            for _ in 0..<8 { crc = crc & 0x8000 != 0 ? (crc << 1) ^ 0x1021 : crc << 1 }
        }
        return bytes + [UInt8(crc & 0xff), UInt8(crc >> 8)]
    }

    private static func base32(_ bytes: [UInt8]) -> String {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
        var out = ""
        var buffer = 0
        var bits = 0
        for byte in bytes {
            buffer = (buffer << 8) | Int(byte)
            bits += 8
            while bits >= 5 {
                out.append(alphabet[(buffer >> (bits - 5)) & 31])
                bits -= 5
            }
        }
        if bits > 0 { out.append(alphabet[(buffer << (5 - bits)) & 31]) }
        return out
    }

    private static func base64URL(_ data: Data) -> String {
        data.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }
}

/// A nats-server configuration in operator mode with a system account and one JetStream-enabled
/// account, and a user of that account.
struct NatsOperatorSetup {
    let config: String
    let userJWT: String
    let userSeed: String
    /// A user the same account never issued a JWT for: its seed does not match `userJWT`.
    let strangerSeed: String

    init() throws {
        let operatorKey = NKey(kind: .operator_)
        let system = NKey(kind: .account)
        let account = NKey(kind: .account)
        let user = NKey(kind: .user)
        let unlimited: [String: Any] = ["subs": -1, "data": -1, "payload": -1, "imports": -1, "exports": -1, "wildcards": true,
                                        "conn": -1, "leaf": -1]
        let jetStream: [String: Any] = ["mem_storage": -1, "disk_storage": -1, "streams": -1, "consumer": -1]
        let operatorJWT = try operatorKey.issue(subject: operatorKey.publicKey, name: "courier-test",
                                                nats: ["type": "operator", "version": 2, "system_account": system.publicKey])
        let systemJWT = try operatorKey.issue(subject: system.publicKey, name: "SYS",
                                              nats: ["type": "account", "version": 2, "limits": unlimited])
        let accountJWT = try operatorKey.issue(subject: account.publicKey, name: "orders",
                                               nats: ["type": "account", "version": 2, "limits": unlimited.merging(jetStream) { a, _ in a }])
        userJWT = try account.issue(subject: user.publicKey, name: "courier",
                                    nats: ["type": "user", "version": 2, "pub": [String: Any](), "sub": [String: Any](),
                                           "subs": -1, "data": -1, "payload": -1])
        userSeed = user.seed
        strangerSeed = NKey(kind: .user).seed
        config = """
            operator: "\(operatorJWT)"
            system_account: "\(system.publicKey)"
            resolver: MEMORY
            resolver_preload: {
              "\(system.publicKey)": "\(systemJWT)"
              "\(account.publicKey)": "\(accountJWT)"
            }
            """
    }
}
