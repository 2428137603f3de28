#if !FUZZING
import FuzzSupport
import Glibc

/// Without libFuzzer (a normal `swift build`), the target replays inputs instead of generating them:
///
///     SessionFuzzer FILE|DIR…     run each input once (the corpus, a crash file)
@main
struct SessionReplay {
    static func main() {
        let arguments = CommandLine.arguments.dropFirst().filter { !$0.hasPrefix("-") }
        exit(replay(arguments: Array(arguments), body: SessionFuzzer.run))
    }
}
#endif
