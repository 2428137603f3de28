internal import CLibPQ
import Glibc
import Synchronization

/// Sends cancel requests for abandoned statements, each on a short-lived thread of its own.
///
/// `PQcancel` blocks: it connects to the server, sends the request and waits for the server to close
/// that connection. Against a black-holed server it can wait for minutes, so it never runs on a
/// caller's path. At most ``limit`` run at once; beyond that a request is dropped (the server still
/// ends the backend when it notices the closed connection, or at `statement_timeout`).
enum CancelRequests {
    static let limit = 4
    private static let running = Atomic<Int>(0)

    /// Takes ownership of `cancel` (from `PQgetCancel`) and frees it.
    static func send(_ cancel: OpaquePointer?) {
        guard let cancel else { return }
        guard running.add(1, ordering: .relaxed).newValue <= limit else {
            running.subtract(1, ordering: .relaxed)
            PQfreeCancel(cancel)
            return
        }
        let box = Unmanaged.passRetained(CancelBox(cancel)).toOpaque()
        var thread = pthread_t()
        let status = pthread_create(
            &thread, nil,
            { context in
                let box = Unmanaged<CancelBox>.fromOpaque(context!).takeRetainedValue()
                var errorBuffer = [CChar](repeating: 0, count: 256)
                // The outcome does not matter: the connection is already closed on our side.
                _ = PQcancel(box.cancel, &errorBuffer, Int32(errorBuffer.count))
                PQfreeCancel(box.cancel)
                CancelRequests.running.subtract(1, ordering: .relaxed)
                return nil
            }, box)
        if status == 0 {
            pthread_detach(thread)
        } else {
            Unmanaged<CancelBox>.fromOpaque(box).release()
            PQfreeCancel(cancel)
            running.subtract(1, ordering: .relaxed)
        }
    }

    private final class CancelBox {
        let cancel: OpaquePointer
        init(_ cancel: OpaquePointer) { self.cancel = cancel }
    }
}
