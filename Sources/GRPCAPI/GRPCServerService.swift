import Bindings
import DaprProto
import GRPCCore
import GRPCNIOTransportHTTP2
import HTTPAPI
import Logging
import ServiceLifecycle

/// The gRPC API on `--dapr-grpc-port` as a lifecycle service: Dapr's runtime service (behind
/// `DAPR_API_TOKEN` when set) and KEDA's external scaler, over plaintext HTTP/2.
public struct GRPCServerService: Service {
    let server: GRPCServer<HTTP2ServerTransport.Posix>
    let logger: Logger

    public init(host: String, port: Int, publisher: Publisher, state: SidecarState, bindings: BindingHub?, streaming: StreamingSubscriptions,
                tokens: CallerTokens, scalerStreamInterval: Duration = .seconds(5), logger: Logger) {
        let dapr = DaprService(publisher: publisher, state: state, bindings: bindings, streaming: streaming)
        let scaler = ExternalScalerService(publisher: publisher, streamInterval: scalerStreamInterval)
        var interceptors: [ConditionalInterceptor<any ServerInterceptor>] = []
        interceptors.append(.apply(APITokenInterceptor(tokens: tokens), to: .services([Dapr_Proto_Runtime_V1_Dapr.descriptor])))
        server = GRPCServer(transport: .http2NIOPosix(address: .ipv4(host: host, port: port), transportSecurity: .plaintext),
                            services: [dapr, scaler], interceptorPipeline: interceptors)
        self.logger = logger
    }

    public func run() async throws {
        try await withGracefulShutdownHandler {
            try await server.serve()
        } onGracefulShutdown: {
            server.beginGracefulShutdown()
        }
    }
}
