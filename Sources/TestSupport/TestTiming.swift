import Foundation

/// How much room the tests give a busy machine when they check that something kept a deadline.
///
/// A test never asserts how fast the machine is, only that a call did not wait past the deadline it was given
/// (docs/TESTING.md). Each margin is already at least twice what it bounds; `RANANEETI_TEST_SLACK` multiplies
/// them all for machines slower or busier than ours (a number, default 1; values below 1 are taken as 1).
public enum TestTiming {
    /// The factor every margin is multiplied by: `RANANEETI_TEST_SLACK`, default 1.
    public static let slack: Double = {
        guard let text = ProcessInfo.processInfo.environment["RANANEETI_TEST_SLACK"], let value = Double(text),
            value.isFinite
        else { return 1 }
        return max(1, value)
    }()

    /// How long a test waits for something that normally takes moments (a projector catching up, a server
    /// starting) before it fails with what it saw, instead of hanging: 60 s, times ``slack``.
    public static var patience: Duration { margin(.seconds(60)) }

    /// `duration` stretched by ``slack``: the room a check allows beyond the deadline it bounds.
    public static func margin(_ duration: Duration) -> Duration {
        duration * slack
    }
}
