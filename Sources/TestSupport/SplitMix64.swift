import Foundation

/// SplitMix64: a small, fast generator whose sequence depends only on its seed, so that a random test or a
/// benchmark's data is the same on every run, and a failing run can be replayed from its seed.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    /// The seed it started from, for reporting.
    public let seed: UInt64
    private var state: UInt64

    public init(seed: UInt64) {
        self.seed = seed
        state = seed
    }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var mixed = state
        mixed = (mixed ^ (mixed >> 30)) &* 0xBF58_476D_1CE4_E5B9
        mixed = (mixed ^ (mixed >> 27)) &* 0x94D0_49BB_1331_11EB
        return mixed ^ (mixed >> 31)
    }
}

extension SplitMix64 {
    /// A generator for a randomised test: seeded from `RANANEETI_TEST_SEED` when it is set (to replay a run),
    /// else from the clock. Prints the seed with `label`, so that any failing run can be replayed.
    public static func forTest(_ label: String) -> SplitMix64 {
        let given = ProcessInfo.processInfo.environment["RANANEETI_TEST_SEED"].flatMap { UInt64($0) }
        let generator = SplitMix64(seed: given ?? UInt64(Date().timeIntervalSince1970 * 1_000_000))
        print("\(label): seed \(generator.seed) (RANANEETI_TEST_SEED=\(generator.seed) replays it)")
        return generator
    }
}
