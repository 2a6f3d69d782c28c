import Dispatch

/// Runs a blocking C call (a connect, an admin request, a metadata query) on a dispatch thread
/// and suspends until it returns, so it never ties up a thread of the cooperative pool.
public func runBlocking<T: Sendable>(_ body: @escaping @Sendable () throws(BrokerError) -> T) async throws(BrokerError) -> T {
    let result: Result<T, BrokerError> = await withCheckedContinuation { c in
        DispatchQueue.global().async {
            do throws(BrokerError) { c.resume(returning: .success(try body())) } catch { c.resume(returning: .failure(error)) }
        }
    }
    return try result.get()
}
