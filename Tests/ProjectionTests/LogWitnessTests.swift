import EventLog
import Projection
import Testing

/// The decision a projector, `log verify --against-database` and `db adopt-log` share, without any I/O.
@Suite("Log witness", .timeLimit(.minutes(1)))
struct LogWitnessTests {
    let hash = ChainHash(hex: String(repeating: "ab", count: 32))!
    let other = ChainHash(hex: String(repeating: "cd", count: 32))!

    @Test("the verdicts, one per case")
    func verdicts() {
        let witness = ChainPoint(offset: 100, hash: hash)
        // The log has the witnessed hash there and reaches the checkpoint, or goes beyond it.
        #expect(LogWitness.judge(checkpoint: 120, witness: witness, logEnd: 120, logStart: 0, logHash: hash) == .agrees(witness))
        #expect(LogWitness.judge(checkpoint: 120, witness: witness, logEnd: 500, logStart: 0, logHash: hash) == .agrees(witness))
        // Nothing witnessed yet, or the witnessed point archived: nothing to compare, the log may go on.
        #expect(LogWitness.judge(checkpoint: 0, witness: nil, logEnd: 0, logStart: 0, logHash: nil) == .nothingWitnessed)
        #expect(LogWitness.judge(checkpoint: 120, witness: witness, logEnd: 500, logStart: 200, logHash: nil) == .witnessArchived(witness))
        // Behind: the checkpoint or the witness past the log's end.
        #expect(LogWitness.judge(checkpoint: 120, witness: witness, logEnd: 110, logStart: 0, logHash: hash) == .logBehind(databaseEnd: 120, logEnd: 110))
        #expect(LogWitness.judge(checkpoint: 120, witness: nil, logEnd: 110, logStart: 0, logHash: nil) == .logBehind(databaseEnd: 120, logEnd: 110))
        // Another history: another hash there, or no batch ending there.
        #expect(LogWitness.judge(checkpoint: 120, witness: witness, logEnd: 500, logStart: 0, logHash: other) == .rewritten(witness: witness, logHash: other))
        #expect(LogWitness.judge(checkpoint: 120, witness: witness, logEnd: 500, logStart: 0, logHash: nil) == .rewritten(witness: witness, logHash: nil))
    }

    @Test("a refusal says what happened and what to do; a verdict that allows projection has none")
    func refusals() {
        let behind = LogWitness.refusal(.logBehind(databaseEnd: 120, logEnd: 110), node: "n1", directory: "/var/lib/log")
        #expect(behind?.contains("110..<120") == true)
        #expect(behind?.contains("rananeeti db adopt-log --data-dir /var/lib/log") == true)
        let rewritten = LogWitness.refusal(.rewritten(witness: ChainPoint(offset: 100, hash: hash), logHash: other), node: "n1", directory: "/d")
        #expect(rewritten?.contains(hash.description) == true && rewritten?.contains(other.description) == true)
        #expect(LogWitness.refusal(.nothingWitnessed, node: "n1", directory: "/d") == nil)
        #expect(!LogWitness.Verdict.logBehind(databaseEnd: 1, logEnd: 0).allowsProjection)
    }
}
