import NIOCore

/// When the listening socket may accept again after `accept` ran out of file descriptors
/// (EMFILE/ENFILE), and what one such episode cost: a pure state machine, driven by
/// `AcceptPacer` and tested without sockets.
///
/// A failure that freed descriptors (idle connections closed) waits only for those closes to land;
/// one that freed nothing waits 10 ms, then twice as long each time, up to 1 s (as nginx stops
/// accepting for a while instead of retrying at once). The first accepted connection ends the
/// episode and resets the pause.
struct AcceptPacing: Equatable {
    static let settle = TimeAmount.milliseconds(5)
    static let firstPause = TimeAmount.milliseconds(10)
    static let longestPause = TimeAmount.seconds(1)

    /// One run of failed accepts, from the first failure to the next accepted connection.
    struct Episode: Equatable {
        var started: NIODeadline
        var failures = 0
        var closed = 0
        var longestPause = TimeAmount.zero
    }

    private(set) var episode: Episode?
    private var pause = TimeAmount.zero

    /// An accept failed for want of descriptors after `closed` idle connections were closed to
    /// free some: how long to wait before accepting again, and whether this began an episode.
    mutating func failed(closed: Int, now: NIODeadline) -> (pause: TimeAmount, began: Bool) {
        let began = episode == nil
        var current = episode ?? Episode(started: now)
        current.failures += 1
        current.closed += closed
        let wait: TimeAmount
        if closed > 0 {
            wait = Self.settle
        } else {
            pause = pause == .zero ? Self.firstPause : min(pause * 2, Self.longestPause)
            wait = pause
        }
        current.longestPause = max(current.longestPause, wait)
        episode = current
        return (wait, began)
    }

    /// A connection was accepted: the episode it ends, if one was running.
    mutating func accepted() -> Episode? {
        defer {
            episode = nil
            pause = .zero
        }
        return episode
    }
}
