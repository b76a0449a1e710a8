import Delivery
import Foundation

/// The rules every `DeliveryStore` keeps (written on the protocol), each checked through
/// the protocol alone against a fresh store from `Fixture`. A store is done when it passes
/// every rule: `for rule in Rule.allCases { try await contract.check(rule) }`, or one
/// parameterised test per rule.
///
/// Times are whole seconds (a store may keep no finer ones) from `t0`.
public struct DeliveryStoreContract<Fixture: DeliveryStoreFixture>: Sendable {
    public let fixture: Fixture

    public init(_ fixture: Fixture) {
        self.fixture = fixture
    }

    public enum Rule: String, CaseIterable, Sendable, CustomStringConvertible {
        case claimTakesWhatIsDueInOrder
        case claimTakesRetriesFirst
        case claimSuppressesAddressesSuppressedSinceTheStart
        case claimSkipsAListSuppressionOnlyOnThatList
        case claimTakesNothingUnlessRunning
        case markSendingMovesOnlyTheOwnersClaims
        case recordWritesOnlyTheOwnersAndSentOnlyWhenSending
        case hardBounceSuppressesTheAddress
        case recordAndMarkSendingCommitsBothInOrder
        case releaseHandsBackClaimsOnly
        case recoverAbandonedTakesBackWhatTheDeadHeld
        case resendUnknownQueuesTheInDoubtAgain
        case finishWhenComplete
        case dailyQuotaCapsClaimsAndHoldsSending
        case reputationGuardPausesABouncingCampaign
        case sharedSendBudgetHoldsForEveryHandle
        case connectionLeasesHoldForEveryHandle

        public var description: String { rawValue }
    }

    public static var t0: Date { Date(timeIntervalSince1970: 1_800_000_000) }
    static func at(_ seconds: Int) -> Date { t0.addingTimeInterval(TimeInterval(seconds)) }

    public func check(_ rule: Rule) async throws {
        let store = try await fixture.makeStore(Self.settings(for: rule))
        defer { fixture.remove(store) }
        var check = Check(rule: rule.rawValue)
        switch rule {
        case .claimTakesWhatIsDueInOrder: try await claimTakesWhatIsDueInOrder(store, &check)
        case .claimTakesRetriesFirst: try await claimTakesRetriesFirst(store, &check)
        case .claimSuppressesAddressesSuppressedSinceTheStart: try await claimSuppresses(store, &check)
        case .claimSkipsAListSuppressionOnlyOnThatList: try await claimSuppressesPerList(store, &check)
        case .claimTakesNothingUnlessRunning: try await claimOnlyWhenRunning(store, &check)
        case .markSendingMovesOnlyTheOwnersClaims: try await markSending(store, &check)
        case .recordWritesOnlyTheOwnersAndSentOnlyWhenSending: try await record(store, &check)
        case .hardBounceSuppressesTheAddress: try await hardBounce(store, &check)
        case .recordAndMarkSendingCommitsBothInOrder: try await recordAndMark(store, &check)
        case .releaseHandsBackClaimsOnly: try await release(store, &check)
        case .recoverAbandonedTakesBackWhatTheDeadHeld: try await recover(store, &check)
        case .resendUnknownQueuesTheInDoubtAgain: try await resendUnknown(store, &check)
        case .finishWhenComplete: try await finish(store, &check)
        case .dailyQuotaCapsClaimsAndHoldsSending: try await dailyQuota(store, &check)
        case .reputationGuardPausesABouncingCampaign: try await reputationGuard(store, &check)
        case .sharedSendBudgetHoldsForEveryHandle: try await sendBudget(store, &check)
        case .connectionLeasesHoldForEveryHandle: try await leases(store, &check)
        }
    }

    static func settings(for rule: Rule) -> ContractSettings {
        switch rule {
        case .dailyQuotaCapsClaimsAndHoldsSending: ContractSettings(perDay: 2, today: at(0))
        case .reputationGuardPausesABouncingCampaign: ContractSettings(maxBounceRate: 0.5, minimumAttempts: 4, today: at(0))
        default: ContractSettings(today: at(0))
        }
    }

    /// Collects the first broken expectation of a rule as a `ContractViolation`.
    struct Check {
        var rule: String

        func expect(_ condition: Bool, _ seen: @autoclosure () -> String) throws {
            if !condition { throw ContractViolation(rule: rule, seen: seen()) }
        }

        func counts(_ store: Fixture.Store, _ campaign: Int64) async throws -> [DeliveryState: Int] {
            try await store.stateCounts(campaign: campaign).byState.filter { $0.value > 0 }
        }
    }

    private func outcome(_ id: Int64, _ state: DeliveryState, at seconds: Int, next: Int? = nil,
                         code: Int? = 250, server: String? = "mx.example") -> DeliveryOutcome {
        DeliveryOutcome(deliveryID: id, state: state, code: code, response: "\(code ?? 0) reply", mxHost: server,
                        messageID: "<\(id)@contract.example>", attemptedAt: Self.at(seconds), nextAttemptAt: next.map(Self.at))
    }

    // MARK: - Claims

    private func claimTakesWhatIsDueInOrder(_ store: Fixture.Store, _ check: inout Check) async throws {
        let campaign = try await fixture.startCampaign(recipients: ["b1@b.test", "a1@a.test", "c1@c.test", "a2@a.test"], in: store)
        try await store.heartbeat(owner: "o", now: Self.at(0))
        let first = try await store.claimDue(campaign: campaign, now: Self.at(1), limit: 3, owner: "o", excludingDomains: ["c.test"])
        try check.expect(first.map(\.email) == ["a1@a.test", "a2@a.test", "b1@b.test"],
                         "a claim of 3 excluding c.test returned \(first.map(\.email)), not by domain then id")
        try check.expect(first.allSatisfy { $0.campaignID == campaign && $0.attempts == 0 && $0.firstAttemptAt == nil },
                         "claimed deliveries say \(first)")
        let counts1 = try await check.counts(store, campaign)
        try check.expect(counts1 == [.claimed: 3, .pending: 1], "after the claim: \(counts1)")
        let second = try await store.claimDue(campaign: campaign, now: Self.at(1), limit: 10, owner: "o", excludingDomains: [])
        try check.expect(second.map(\.email) == ["c1@c.test"], "the next claim returned \(second.map(\.email))")
        let third = try await store.claimDue(campaign: campaign, now: Self.at(1), limit: 10, owner: "o", excludingDomains: [])
        try check.expect(third.isEmpty, "a claim with nothing due returned \(third.map(\.email))")
        let none = try await store.claimDue(campaign: campaign, now: Self.at(1), limit: 0, owner: "o", excludingDomains: [])
        try check.expect(none.isEmpty, "a claim of 0 returned \(none.count)")
    }

    private func claimTakesRetriesFirst(_ store: Fixture.Store, _ check: inout Check) async throws {
        let campaign = try await fixture.startCampaign(recipients: ["p@a.test", "q@a.test"], in: store)
        let both = try await store.claimDue(campaign: campaign, now: Self.at(1), limit: 2, owner: "o", excludingDomains: [])
        try check.expect(both.count == 2, "claimed \(both.count) of 2")
        let (p, q) = (both[0].id, both[1].id)
        try await store.record([outcome(q, .deferred, at: 2, next: 10, code: 451)], hardBounces: [], owner: "o")
        try await store.release([p], owner: "o")
        let early = try await store.claimDue(campaign: campaign, now: Self.at(5), limit: 2, owner: "o", excludingDomains: [])
        try check.expect(early.map(\.id) == [p], "before its retry time the deferred one was claimed: \(early.map(\.email))")
        try await store.release([p], owner: "o")
        let due = try await store.claimDue(campaign: campaign, now: Self.at(20), limit: 1, owner: "o", excludingDomains: [])
        try check.expect(due.map(\.id) == [q], "a claim of 1 took \(due.map(\.email)), not the retry that is due")
        try check.expect(due.first?.attempts == 1 && due.first?.firstAttemptAt == Self.at(2),
                         "the retry says attempts \(String(describing: due.first?.attempts)), first attempt \(String(describing: due.first?.firstAttemptAt))")
        try check.expect(try await store.nextDueAt(campaign: campaign) == nil, "nextDueAt with nothing deferred")
    }

    private func claimSuppresses(_ store: Fixture.Store, _ check: inout Check) async throws {
        let campaign = try await fixture.startCampaign(recipients: ["s@a.test", "k@a.test"], in: store)
        try await fixture.suppress("s@a.test", in: store)
        let claimed = try await store.claimDue(campaign: campaign, now: Self.at(1), limit: 10, owner: "o", excludingDomains: [])
        try check.expect(claimed.map(\.email) == ["k@a.test"], "claimed \(claimed.map(\.email)) with s@a.test suppressed")
        let counts2 = try await check.counts(store, campaign)
        try check.expect(counts2 == [.claimed: 1, .suppressed: 1], "after the claim: \(counts2)")
    }

    /// An address suppressed on one list is skipped by that list's campaigns and mailed
    /// by another list's; one suppressed globally is skipped by both.
    private func claimSuppressesPerList(_ store: Fixture.Store, _ check: inout Check) async throws {
        let news = try await fixture.startCampaign(recipients: ["l@a.test", "g@a.test", "k@a.test"], onList: "news", in: store)
        let offers = try await fixture.startCampaign(recipients: ["l@a.test", "g@a.test", "k@a.test"], onList: "offers", in: store)
        try await fixture.suppress("L@a.test", onList: "news", in: store)
        try await fixture.suppress("g@a.test", in: store)
        let fromNews = try await store.claimDue(campaign: news, now: Self.at(1), limit: 10, owner: "o", excludingDomains: [])
        try check.expect(fromNews.map(\.email) == ["k@a.test"],
                         "the news campaign claimed \(fromNews.map(\.email)) with l@ suppressed on news and g@ globally")
        let newsCounts = try await check.counts(store, news)
        try check.expect(newsCounts == [.claimed: 1, .suppressed: 2], "news after the claim: \(newsCounts)")
        let fromOffers = try await store.claimDue(campaign: offers, now: Self.at(1), limit: 10, owner: "o", excludingDomains: [])
        try check.expect(fromOffers.count == 2 && Set(fromOffers.map(\.email)) == ["l@a.test", "k@a.test"],
                         "the offers campaign claimed \(fromOffers.map(\.email)): a suppression on news held it back")
        let offersCounts = try await check.counts(store, offers)
        try check.expect(offersCounts == [.claimed: 2, .suppressed: 1], "offers after the claim: \(offersCounts)")
    }

    private func claimOnlyWhenRunning(_ store: Fixture.Store, _ check: inout Check) async throws {
        let campaign = try await fixture.startCampaign(recipients: ["r1@a.test", "r2@a.test"], in: store)
        try await fixture.setControl(.paused, campaign: campaign, in: store)
        try check.expect(try await store.campaignControl(campaign: campaign) == .paused, "a paused campaign's control")
        let paused = try await store.claimDue(campaign: campaign, now: Self.at(1), limit: 10, owner: "o", excludingDomains: [])
        try check.expect(paused.isEmpty, "a paused campaign gave \(paused.count)")
        try await fixture.setControl(.running, campaign: campaign, in: store)
        let one = try await store.claimDue(campaign: campaign, now: Self.at(1), limit: 1, owner: "o", excludingDomains: [])
        try check.expect(one.count == 1, "a resumed campaign gave \(one.count)")
        try await fixture.setControl(.cancelled, campaign: campaign, in: store)
        try check.expect(try await store.campaignControl(campaign: campaign) == .cancelled, "a cancelled campaign's control")
        let cancelled = try await store.claimDue(campaign: campaign, now: Self.at(1), limit: 10, owner: "o", excludingDomains: [])
        try check.expect(cancelled.isEmpty, "a cancelled campaign gave \(cancelled.count)")
        // A cancel takes back what is not on a connection yet, claims included.
        let counts3 = try await check.counts(store, campaign)
        try check.expect(counts3 == [.cancelled: 2], "after the cancel: \(counts3)")
        let marked = try await store.markSending(one.map(\.id), owner: "o", now: Self.at(2))
        try check.expect(marked.isEmpty, "a claim of a cancelled campaign was marked sending")
    }

    // MARK: - Marks and outcomes

    private func markSending(_ store: Fixture.Store, _ check: inout Check) async throws {
        let campaign = try await fixture.startCampaign(recipients: ["m1@a.test", "m2@a.test"], in: store)
        let ids = try await store.claimDue(campaign: campaign, now: Self.at(1), limit: 10, owner: "o1", excludingDomains: []).map(\.id)
        let stranger = try await store.markSending(ids, owner: "o2", now: Self.at(2))
        try check.expect(stranger.isEmpty, "another owner marked \(stranger)")
        let marked = try await store.markSending(ids + [ids.max()! + 1_000], owner: "o1", now: Self.at(2))
        try check.expect(marked == Set(ids), "the owner marked \(marked) of \(ids)")
        let again = try await store.markSending(ids, owner: "o1", now: Self.at(2))
        try check.expect(again.isEmpty, "deliveries already sending were marked again: \(again)")
        let counts4 = try await check.counts(store, campaign)
        try check.expect(counts4 == [.sending: 2], "\(counts4)")
    }

    private func record(_ store: Fixture.Store, _ check: inout Check) async throws {
        let campaign = try await fixture.startCampaign(recipients: ["r1@a.test", "r2@a.test"], in: store)
        let ids = try await store.claimDue(campaign: campaign, now: Self.at(1), limit: 10, owner: "o", excludingDomains: []).map(\.id)
        let unmarked = try await store.record([outcome(ids[0], .sent, at: 2)], hardBounces: [], owner: "o")
        try check.expect(unmarked == 0, "`sent` was recorded for a delivery never marked sending")
        _ = try await store.markSending([ids[0]], owner: "o", now: Self.at(2))
        let stranger = try await store.record([outcome(ids[0], .sent, at: 3)], hardBounces: [], owner: "other")
        try check.expect(stranger == 0, "another owner's outcome was recorded")
        let own = try await store.record([outcome(ids[0], .sent, at: 3)], hardBounces: [], owner: "o")
        try check.expect(own == 1, "the owner's outcome: \(own) recorded")
        let twice = try await store.record([outcome(ids[0], .bounced, at: 4, code: 550)], hardBounces: [], owner: "o")
        try check.expect(twice == 0, "a second outcome for a recorded delivery was written")
        var refused = false
        do {
            try await store.record([outcome(ids[1], .deferred, at: 3, next: nil, code: 451)], hardBounces: [], owner: "o")
        } catch {
            refused = true
        }
        try check.expect(refused, "a deferred outcome without its next attempt time was accepted")
        refused = false
        do {
            try await store.record([outcome(ids[1], .pending, at: 3)], hardBounces: [], owner: "o")
        } catch {
            refused = true
        }
        try check.expect(refused, "an outcome in state pending was accepted")
        // Failed before any DATA (a refused connection): recorded from `claimed`.
        let deferred = try await store.record([outcome(ids[1], .deferred, at: 3, next: 60, code: nil, server: nil)],
                                              hardBounces: [], owner: "o")
        try check.expect(deferred == 1, "a deferral of a claimed delivery: \(deferred) recorded")
        let counts5 = try await check.counts(store, campaign)
        try check.expect(counts5 == [.sent: 1, .deferred: 1], "\(counts5)")
        let next = try await store.nextDueAt(campaign: campaign)
        try check.expect(next == Self.at(60), "nextDueAt: \(String(describing: next))")
    }

    private func hardBounce(_ store: Fixture.Store, _ check: inout Check) async throws {
        let campaign = try await fixture.startCampaign(recipients: ["hard@a.test", "soft@a.test"], in: store)
        let ids = try await store.claimDue(campaign: campaign, now: Self.at(1), limit: 10, owner: "o", excludingDomains: []).map(\.id)
        _ = try await store.markSending(ids, owner: "o", now: Self.at(2))
        try await store.record([outcome(ids[0], .bounced, at: 3, code: 550), outcome(ids[1], .bounced, at: 3, code: 554)],
                               hardBounces: [ids[0]], owner: "o")
        try check.expect(try await fixture.isSuppressed("hard@a.test", in: store), "a hard bounce did not suppress its address")
        try check.expect(try await !fixture.isSuppressed("soft@a.test", in: store), "a bounce not listed as hard suppressed its address")
    }

    private func recordAndMark(_ store: Fixture.Store, _ check: inout Check) async throws {
        let campaign = try await fixture.startCampaign(recipients: ["x@a.test", "y@a.test"], in: store)
        let ids = try await store.claimDue(campaign: campaign, now: Self.at(1), limit: 10, owner: "o", excludingDomains: []).map(\.id)
        let first = try await store.recordAndMarkSending([], hardBounces: [], marking: [ids[0]], owner: "o", now: Self.at(2))
        try check.expect(first == [ids[0]], "the first mark: \(first)")
        let second = try await store.recordAndMarkSending([outcome(ids[0], .sent, at: 3)], hardBounces: [], marking: [ids[1]],
                                                    owner: "o", now: Self.at(3))
        try check.expect(second == [ids[1]], "the second mark: \(second)")
        // The mark holds: y's `sent` is accepted (only a marked delivery may become sent).
        let recorded = try await store.record([outcome(ids[1], .sent, at: 4)], hardBounces: [], owner: "o")
        try check.expect(recorded == 1, "y, marked in the commit of x's outcome, could not be recorded sent")
        try check.expect(try await store.finishIfComplete(campaign: campaign, now: Self.at(5)), "not finished with both sent")
        let counts6 = try await check.counts(store, campaign)
        try check.expect(counts6 == [.sent: 2], "\(counts6)")
        let stranger = try await store.recordAndMarkSending([], hardBounces: [], marking: ids, owner: "other", now: Self.at(6))
        try check.expect(stranger.isEmpty, "another owner marked \(stranger)")
    }

    private func release(_ store: Fixture.Store, _ check: inout Check) async throws {
        let campaign = try await fixture.startCampaign(recipients: ["l1@a.test", "l2@a.test"], in: store)
        let ids = try await store.claimDue(campaign: campaign, now: Self.at(1), limit: 10, owner: "o", excludingDomains: []).map(\.id)
        _ = try await store.markSending([ids[1]], owner: "o", now: Self.at(2))
        let stranger = try await store.release(ids, owner: "other")
        try check.expect(stranger == 0, "another owner released \(stranger)")
        let released = try await store.release(ids, owner: "o")
        try check.expect(released == 1, "released \(released): only the claimed one goes back, not the one sending")
        let counts7 = try await check.counts(store, campaign)
        try check.expect(counts7 == [.pending: 1, .sending: 1], "\(counts7)")
        let again = try await store.claimDue(campaign: campaign, now: Self.at(3), limit: 10, owner: "p", excludingDomains: [])
        try check.expect(again.map(\.id) == [ids[0]], "the released one was not claimable: \(again.map(\.email))")
    }

    // MARK: - Owners

    private func recover(_ store: Fixture.Store, _ check: inout Check) async throws {
        let campaign = try await fixture.startCampaign(recipients: ["d1@a.test", "d2@a.test", "live@b.test"], in: store)
        try await store.heartbeat(owner: "dead", now: Self.at(0))
        let held = try await store.claimDue(campaign: campaign, now: Self.at(1), limit: 2, owner: "dead", excludingDomains: [])
        _ = try await store.markSending([held[1].id], owner: "dead", now: Self.at(2))
        let late = 3_600
        try await store.heartbeat(owner: "busy", now: Self.at(late))
        let busy = try await store.claimDue(campaign: campaign, now: Self.at(late), limit: 1, owner: "busy", excludingDomains: [])
        try check.expect(busy.count == 1, "the live owner claimed \(busy.count)")
        try await store.heartbeat(owner: "new", now: Self.at(late))
        let recovered = try await store.recoverAbandoned(campaign: campaign, owner: "new", now: Self.at(late))
        try check.expect(recovered == DeliveryRecovery(released: 1, unknown: 1),
                         "recovering a silent owner's claimed and sending: \(recovered)")
        let counts8 = try await check.counts(store, campaign)
        try check.expect(counts8 == [.pending: 1, .unknown: 1, .claimed: 1], "after recovery (the live owner's claim untouched): \(counts8)")
        let none = try await store.recoverAbandoned(campaign: campaign, owner: "new", now: Self.at(late))
        try check.expect(none == DeliveryRecovery(), "a second recovery found \(none)")
        // Signing off hands back what the owner still holds claimed.
        try await store.signOff(owner: "busy")
        let counts9 = try await check.counts(store, campaign)
        try check.expect(counts9 == [.pending: 2, .unknown: 1], "after sign-off: \(counts9)")
    }

    private func resendUnknown(_ store: Fixture.Store, _ check: inout Check) async throws {
        let campaign = try await fixture.startCampaign(recipients: ["u@a.test"], in: store)
        try await store.heartbeat(owner: "dead", now: Self.at(0))
        let held = try await store.claimDue(campaign: campaign, now: Self.at(1), limit: 1, owner: "dead", excludingDomains: [])
        _ = try await store.markSending(held.map(\.id), owner: "dead", now: Self.at(2))
        _ = try await store.recoverAbandoned(campaign: campaign, owner: "new", now: Self.at(3_600))
        let nothing = try await store.claimDue(campaign: campaign, now: Self.at(3_600), limit: 1, owner: "new", excludingDomains: [])
        try check.expect(nothing.isEmpty, "an unknown delivery was claimed without resendUnknown")
        try check.expect(try await store.resendUnknown(campaign: campaign) == 1, "resendUnknown did not queue it")
        let again = try await store.claimDue(campaign: campaign, now: Self.at(3_601), limit: 1, owner: "new", excludingDomains: [])
        try check.expect(again.map(\.email) == ["u@a.test"], "after resendUnknown: \(again.map(\.email))")
        try check.expect(again.first?.attempts == 1, "the attempt in doubt counts as one: attempts \(String(describing: again.first?.attempts))")
    }

    private func finish(_ store: Fixture.Store, _ check: inout Check) async throws {
        let campaign = try await fixture.startCampaign(recipients: ["f1@a.test", "f2@a.test"], in: store)
        try check.expect(try await !store.finishIfComplete(campaign: campaign, now: Self.at(0)), "finished with nothing sent")
        let ids = try await store.claimDue(campaign: campaign, now: Self.at(1), limit: 10, owner: "o", excludingDomains: []).map(\.id)
        _ = try await store.markSending(ids, owner: "o", now: Self.at(2))
        try await store.record([outcome(ids[0], .sent, at: 3), outcome(ids[1], .deferred, at: 3, next: 900, code: 451)],
                               hardBounces: [], owner: "o")
        try check.expect(try await !store.finishIfComplete(campaign: campaign, now: Self.at(4)), "finished with a delivery deferred")
        let retry = try await store.claimDue(campaign: campaign, now: Self.at(900), limit: 1, owner: "o", excludingDomains: []).map(\.id)
        _ = try await store.markSending(retry, owner: "o", now: Self.at(901))
        try await store.record([outcome(ids[1], .bounced, at: 902, code: 550)], hardBounces: [], owner: "o")
        try check.expect(try await store.finishIfComplete(campaign: campaign, now: Self.at(903)), "not finished with every delivery final")
        try check.expect(try await store.campaignControl(campaign: campaign) == .finished, "a finished campaign's control")
    }

    // MARK: - Limits

    private func dailyQuota(_ store: Fixture.Store, _ check: inout Check) async throws {
        let campaign = try await fixture.startCampaign(recipients: ["q1@a.test", "q2@a.test", "q3@a.test", "q4@a.test"], in: store)
        try check.expect(try await store.sendingHold(now: Self.at(0)) == nil, "a hold before anything was sent")
        let claimed = try await store.claimDue(campaign: campaign, now: Self.at(1), limit: 10, owner: "o", excludingDomains: [])
        try check.expect(claimed.count == 2, "a quota of 2 a day let a claim take \(claimed.count)")
        _ = try await store.markSending(claimed.map(\.id), owner: "o", now: Self.at(2))
        try await store.record(claimed.map { outcome($0.id, .sent, at: 3) }, hardBounces: [], owner: "o")
        let more = try await store.claimDue(campaign: campaign, now: Self.at(4), limit: 10, owner: "o", excludingDomains: [])
        try check.expect(more.isEmpty, "the day's quota spent, a claim took \(more.count)")
        let hold = try await store.sendingHold(now: Self.at(4))
        try check.expect(hold != nil && hold!.until > Self.at(4), "the spent quota holds sending: \(String(describing: hold))")
    }

    private func reputationGuard(_ store: Fixture.Store, _ check: inout Check) async throws {
        let campaign = try await fixture.startCampaign(recipients: ["g1@a.test", "g2@a.test", "g3@a.test", "g4@a.test", "g5@a.test"], in: store)
        let ids = try await store.claimDue(campaign: campaign, now: Self.at(1), limit: 4, owner: "o", excludingDomains: []).map(\.id)
        _ = try await store.markSending(ids, owner: "o", now: Self.at(2))
        try await store.record([outcome(ids[0], .sent, at: 3)] + ids.dropFirst().map { outcome($0, .bounced, at: 3, code: 550) },
                               hardBounces: [], owner: "o")
        let control = try await store.campaignControl(campaign: campaign)
        try check.expect(control == .paused, "3 of 4 bounced, over a rate of 50%: the campaign is \(control)")
        let after = try await store.claimDue(campaign: campaign, now: Self.at(4), limit: 10, owner: "o", excludingDomains: [])
        try check.expect(after.isEmpty, "the paused campaign gave \(after.count)")
    }

    private func sendBudget(_ store: Fixture.Store, _ check: inout Check) async throws {
        let other = try await fixture.secondHandle(on: store)
        let rate = Rate(count: 10, per: 1)
        let now = Self.at(0)
        let first = try await store.takeSends("global", count: 8, rate: rate, now: now)
        let second = try await other.takeSends("global", count: 8, rate: rate, now: now)
        try check.expect(first.granted == 8 && second.granted == 2,
                         "a burst of 10 shared by two handles granted \(first.granted) and \(second.granted)")
        try check.expect(second.retryAt.map { $0 > now && $0 <= now.addingTimeInterval(0.1 + 1e-6) } == true,
                         "the next send of 10/s is due within 0.1 s, said \(String(describing: second.retryAt))")
        let elsewhere = try await other.takeSends("domain:b.test", count: 3, rate: rate, now: now)
        try check.expect(elsewhere.granted == 3, "another key's budget granted \(elsewhere.granted)")
        // Over the next five seconds, both handles together get five seconds' worth.
        var total = 0
        for tenth in 1...50 {
            let at = now.addingTimeInterval(Double(tenth) / 10)
            total += try await store.takeSends("global", count: 5, rate: rate, now: at).granted
            total += try await other.takeSends("global", count: 5, rate: rate, now: at).granted
        }
        try check.expect(total >= 49 && total <= 50, "five seconds at 10/s granted \(total) to two handles")
    }

    private func leases(_ store: Fixture.Store, _ check: inout Check) async throws {
        let other = try await fixture.secondHandle(on: store)
        let key = "site:mx.b.test"
        try await store.heartbeat(owner: "a", now: Self.at(0))
        try await other.heartbeat(owner: "b", now: Self.at(0))
        var taken: [Bool] = []
        taken.append(try await store.leaseConnection(key, limit: 2, owner: "a", now: Self.at(0)))
        taken.append(try await other.leaseConnection(key, limit: 2, owner: "b", now: Self.at(0)))
        taken.append(try await other.leaseConnection(key, limit: 2, owner: "b", now: Self.at(0)))
        try check.expect(taken == [true, true, false], "a limit of 2 over two handles leased \(taken)")
        try await store.returnConnection(key, owner: "a")
        try check.expect(try await other.leaseConnection(key, limit: 2, owner: "b", now: Self.at(1)), "a returned lease was not free")
        try await other.signOff(owner: "b")
        try check.expect(try await store.leaseConnection(key, limit: 2, owner: "a", now: Self.at(2)), "sign-off kept b's leases")
        try check.expect(try await store.leaseConnection(key, limit: 2, owner: "a", now: Self.at(2)), "sign-off kept b's leases")
        try check.expect(try await !store.leaseConnection(key, limit: 2, owner: "a", now: Self.at(2)), "a third lease of 2")
        // "a" falls silent: long after, its leases count for nothing.
        try await other.heartbeat(owner: "c", now: Self.at(3_600))
        try check.expect(try await other.leaseConnection(key, limit: 2, owner: "c", now: Self.at(3_600)),
                         "the leases of an owner presumed dead were counted")
        try check.expect(try await other.leaseConnection(key, limit: 2, owner: "c", now: Self.at(3_600)),
                         "the leases of an owner presumed dead were counted")
    }
}
