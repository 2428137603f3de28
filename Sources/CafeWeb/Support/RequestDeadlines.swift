import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTPTypes

/// HTTP/1.1 with deadlines for reading requests, so that slow clients cannot hold connections (and the
/// tasks behind them) for as long as they like: Hummingbird's `HTTP1Channel`, plus two channel handlers.
///
/// Hummingbird's own idle timeout counts from the last whole request part, so a client that sends a header
/// byte a second ("slowloris") or a body byte a second is never idle. Here a request's head must arrive
/// within ``WebConfiguration/Options/requestHeadTimeout`` of its first byte, and its body within
/// ``WebConfiguration/Options/requestBodyTimeout`` of its head; a client that misses either is disconnected.
/// A keep-alive connection between requests is governed by the (longer) idle timeout alone.
struct DeadlineHTTP1Channel: ServerChildChannel {
    typealias Value = HTTP1Channel.Value

    let http1: HTTP1Channel

    /// - Parameters:
    ///   - responder: the application's responder, as Hummingbird passes it to a server builder.
    ///   - options: the deadlines, the idle timeout and the header limits.
    init(responder: @escaping HTTPChannelHandler.Responder, options: WebConfiguration.Options) {
        let head = options.requestHeadTimeout
        let body = options.requestBodyTimeout
        let configuration = HTTP1Channel.Configuration(
            additionalChannelHandlers: [RequestDeadlineHandler(headTimeout: head, bodyTimeout: body)],
            idleTimeout: TimeAmount(options.idleTimeout),
            httpDecoderConfiguration: .init(
                maxHeaderFieldSize: options.maximumHeaderFieldBytes,
                maxHeaderListSize: options.maximumHeaderBytes,
                maxHeaderFieldCount: options.maximumHeaderFieldCount))
        http1 = HTTP1Channel(responder: responder, configuration: configuration)
    }

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        // In front of everything Hummingbird adds, so that it sees the bytes before the HTTP decoder does.
        channel.eventLoop.makeCompletedFuture {
            try channel.pipeline.syncOperations.addHandler(RequestBytesSignal())
        }.flatMap {
            http1.setup(channel: channel, logger: logger)
        }
    }

    func handle(value: Value, logger: Logger) async {
        await http1.handle(value: value, logger: logger)
    }
}

/// Sent up the pipeline when bytes arrive from the client, before the HTTP decoder sees them.
struct RequestBytesArrived {}

/// Tells the handlers behind the HTTP decoder that client bytes arrived, which the decoder does not say
/// until it has a whole request head.
final class RequestBytesSignal: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        // First the event, then the bytes: when these bytes complete a head, the deadline handler has started
        // its clock before it sees the head.
        context.fireUserInboundEventTriggered(RequestBytesArrived())
        context.fireChannelRead(data)
    }
}

/// Closes a connection whose request head or body arrives too slowly. One per connection, on its event loop.
final class RequestDeadlineHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private enum State {
        /// Between requests: the next byte starts a head.
        case idle
        /// Bytes of a head have arrived; the head deadline runs.
        case readingHead
        /// The head is in; the body deadline runs until the request's end.
        case readingBody
        /// The whole request is in; the server is answering.
        case answering
    }

    private let headTimeout: Duration
    private let bodyTimeout: Duration
    private var state = State.idle
    private var deadline: Scheduled<Void>?

    init(headTimeout: Duration, bodyTimeout: Duration) {
        self.headTimeout = headTimeout
        self.bodyTimeout = bodyTimeout
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is RequestBytesArrived {
            if case .idle = state {
                state = .readingHead
                start(headTimeout, context: context)
            }
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head:
            state = .readingBody
            start(bodyTimeout, context: context)
        case .body:
            break
        case .end:
            state = .answering
            stop()
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data), case .answering = state {
            state = .idle
        }
        context.write(data, promise: promise)
    }

    func channelInactive(context: ChannelHandlerContext) {
        stop()
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        stop()
    }

    private func start(_ timeout: Duration, context: ChannelHandlerContext) {
        stop()
        let channel = context.channel
        deadline = context.eventLoop.scheduleTask(in: TimeAmount(timeout)) {
            // Too slow: the client gets no answer, only the end of the connection.
            channel.close(promise: nil)
        }
    }

    private func stop() {
        deadline?.cancel()
        deadline = nil
    }
}

@available(*, unavailable)
extension RequestDeadlineHandler: Sendable {}

@available(*, unavailable)
extension RequestBytesSignal: Sendable {}
