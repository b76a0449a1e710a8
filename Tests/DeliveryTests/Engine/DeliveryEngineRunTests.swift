@testable import Delivery
import Foundation
import SMTP
import StoreContract
import Testing
import TestPeers

/// Whole passes of the engine on the in-memory store and a fake clock, against Postfix's
/// smtp-sink: the engine's time is the clock's alone, and a pause arrives as an event from
/// the one watcher, seen when the clock says a second has passed.
@Suite struct DeliveryEngineRunTests {
    static let start = Date(timeIntervalSince1970: 1_900_000_000)

    static func engine(store: InMemoryDeliveryStore, port: Int, clock: DeliveryClock,
                       limits: SiteLimits) -> DeliveryEngine {
        // Every domain goes to the sink by address: the resolver is never asked.
        let router = Router(routes: ["*": .init(host: "127.0.0.1", port: port)],
                            resolver: DNSResolver(server: ("127.0.0.1", 9), timeout: 1, attempts: 1))
        let settings = DeliveryEngine.Settings(owner: "test:fake-clock", mx: SMTPConfiguration(heloName: "salvo.test", tls: .none))
        return DeliveryEngine(store: store, router: router, renderer: PlainMessageRenderer(),
                              policy: DeliveryPolicy(limits: limits), settings: settings, clock: clock)
    }

    @Test func everyTimeThePassRecordsIsTheClocks() async throws {
        let sink = try await SMTPSinkPeer.start()
        defer { sink.stop() }
        let fake = FakeClock()
        let clock = DeliveryClock(fake, startDate: Self.start)
        let store = InMemoryDeliveryStore(.init(clock: clock.date))
        let campaign = store.addCampaign(recipients: (1...30).map { "r\($0)@d\($0 % 3).test" })
        let engine = Self.engine(store: store, port: sink.port, clock: clock, limits: try SiteLimits(presets: [:]))

        let summary = try await engine.run(campaign: campaign)
        #expect(summary.sent == 30)
        #expect(store.deliveries(campaign: campaign).allSatisfy { $0.state == .sent })
        // The fake clock never moved: every attempt is recorded at its time, not the wall's.
        #expect(store.attempts.count == 30)
        #expect(store.attempts.allSatisfy { $0.attemptedAt == Self.start })
        #expect(try sink.transactions().count == 30)
    }

    @Test func aPauseFromTheStoreStopsThePassAndHandsTheRestBack() async throws {
        let sink = try await SMTPSinkPeer.start()
        defer { sink.stop() }
        let fake = FakeClock()
        let clock = DeliveryClock(fake, startDate: Self.start)
        let store = InMemoryDeliveryStore(.init(clock: clock.date))
        let campaign = store.addCampaign(recipients: (1...6).map { "r\($0)@slow.test" })
        // One message every ten seconds of the fake clock: after the first, the worker
        // waits for the clock.
        let limits = try SiteLimits(domains: ["slow.test": DeliveryLimits(rate: Rate(count: 1, per: 10))], presets: [:])
        let engine = Self.engine(store: store, port: sink.port, clock: clock, limits: limits)
        let pass = Task { try await engine.run(campaign: campaign) }

        #expect(try await TestPeers.eventually { try sink.transactions().count == 1 })
        // The watcher and the worker both wait for the clock now.
        #expect(try await TestPeers.eventually { fake.sleeping >= 2 })
        store.setControl(.paused, campaign: campaign)
        // One second on: the watcher reads the pause; the worker's wait (ten seconds) is
        // cut short by the stop, not by the clock.
        fake.advance(by: .seconds(1))
        let summary = try await pass.value
        #expect(summary.stoppedBy == .paused)
        #expect(summary.sent == 1)
        let states = store.deliveries(campaign: campaign).map(\.state)
        #expect(states.filter { $0 == .sent }.count == 1)
        #expect(states.filter { $0 == .pending }.count == 5, "\(states)")
        #expect(try sink.transactions().count == 1)
    }
}
