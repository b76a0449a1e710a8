import NIOCore

/// The deadline of an awaited reply on a channel's event loop, cheap to move: the
/// scheduled check is replaced only when the deadline comes earlier than it, and a check
/// that runs before the deadline schedules the next one, so a busy connection does not
/// churn timers. Used by the SMTP client and by the POP3 bounce reader; every call is made
/// on the channel's event loop.
public final class ReplyTimer {
    /// When the awaited reply is due; nil when nothing is awaited.
    public private(set) var deadline: NIODeadline?
    private var check: Scheduled<Void>?
    private var checkAt: NIODeadline?
    private var expired: (() -> Void)?

    public init() {}

    /// Awaits a reply until `deadline`; `expired` runs on `eventLoop` once it passes with
    /// the reply still awaited.
    public func set(_ deadline: NIODeadline, on eventLoop: any EventLoop, expired: @escaping () -> Void) {
        self.deadline = deadline
        self.expired = expired
        schedule(on: eventLoop)
    }

    /// Nothing is awaited any more; a pending check finds no deadline and does nothing.
    public func clear() {
        deadline = nil
        expired = nil
    }

    /// `clear()`, and the pending check is cancelled: the channel is gone.
    public func cancel() {
        clear()
        check?.cancel()
        check = nil
        checkAt = nil
    }

    private func schedule(on eventLoop: any EventLoop) {
        guard let deadline else { return }
        if let check, let checkAt {
            // A check that runs no later than the deadline looks at it again then.
            if checkAt <= deadline { return }
            check.cancel()
        }
        checkAt = deadline
        check = eventLoop.assumeIsolated().scheduleTask(deadline: deadline) { [self] in
            check = nil
            checkAt = nil
            guard let deadline = self.deadline else { return }
            if deadline <= .now() {
                let expired = self.expired
                clear()
                expired?()
            } else {
                schedule(on: eventLoop)
            }
        }
    }
}
