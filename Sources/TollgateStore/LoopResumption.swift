import NIOCore

/// A waiter to resume after a meter thread's transaction: how, and on which event loop its task ran when it began to
/// wait (`nil`: none).
struct LoopResumption: Sendable {
    let loop: (any EventLoop)?
    let resume: @Sendable () -> Void

    /// Resumes each waiter on its own event loop, one call per loop (those of no loop at once). A continuation
    /// resumed from a meter thread would otherwise go to whichever event loop comes next, away from its connection.
    static func run(_ resumptions: [LoopResumption]) {
        var byLoop: [ObjectIdentifier: (loop: any EventLoop, resumes: [@Sendable () -> Void])] = [:]
        for resumption in resumptions {
            guard let loop = resumption.loop else {
                resumption.resume()
                continue
            }
            byLoop[ObjectIdentifier(loop), default: (loop, [])].resumes.append(resumption.resume)
        }
        for (loop, resumes) in byLoop.values {
            loop.execute { for resume in resumes { resume() } }
        }
    }
}
