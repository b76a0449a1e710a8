@testable import Campaigns
import Delivery
import Foundation
import SMTP
import Testing
import TestPeers

/// Failures handled at the level they belong to, end to end against hostile peers on
/// loopback: what the peer saw (connections, logins, commands) and how every recipient
/// ended in the store.
@Suite(.serialized) struct DeliveryEngineFaultTests {
    typealias Fixture = DeliveryEngineTests.Fixture

    static func configuration(routes: [String: Int], helo: String = "engine.test") -> SalvoConfiguration {
        var configuration = SalvoConfiguration()
        configuration.helo = helo
        configuration.delivery.tls = "none"
        configuration.delivery.routes = routes.mapValues { .init(host: "127.0.0.1", port: $0) }
        return configuration
    }

    /// A back-off whose pauses are short, so that no test waits out a real one.
    static func quickPolicy(_ configuration: SalvoConfiguration, rules: [DeferralRule] = []) throws -> DeliveryPolicy<ContinuousClock.Instant> {
        DeliveryPolicy(limits: try configuration.deliveryPolicy().limits, rules: rules,
                       backoff: .init(maxConcurrency: 1, firstPause: .milliseconds(20), maxPause: .milliseconds(100)))
    }

    static func engine(_ fixture: Fixture, _ configuration: SalvoConfiguration, store: (any DeliveryStore)? = nil,
                       policy: DeliveryPolicy<ContinuousClock.Instant>? = nil, environment: [String: String] = [:],
                       tune: (inout DeliveryEngine.Settings) -> Void = { _ in }) throws -> DeliveryEngine {
        let (definition, source) = try fixture.store.campaign(named: fixture.campaign)
        let composer = try definition.composer(campaignFile: source, configuration: configuration, environment: [:])
        var settings = DeliveryEngine.Settings(owner: "test:\(UUID().uuidString.prefix(6))", mx: configuration.mxSession(),
                                               relay: try configuration.relaySession(environment: environment),
                                               retry: RetryPolicy(intervals: [.seconds(600)], maxAge: .seconds(7200)))
        settings.mx.timeouts = .uniform(.seconds(5))
        settings.relay?.timeouts = .uniform(.seconds(5))
        tune(&settings)
        return DeliveryEngine(store: store ?? fixture.store, router: configuration.router(), renderer: CampaignRenderer(composer: composer),
                              policy: try policy ?? configuration.deliveryPolicy(), settings: settings)
    }

    // MARK: - The site

    @Test func aSiteGreetingWith421GetsAHandfulOfConnectionsWhileAnotherGetsAllItsMail() async throws {
        let stormy = (0..<300).map { "s\($0)@storm.test" }
        let calm = (0..<100).map { "c\($0)@calm.test" }
        let fixture = try Fixture(recipients: stormy + calm)
        defer { try? FileManager.default.removeItem(atPath: fixture.folder) }
        let storm = try await HostileSMTPPeer.start(mode: "greet-421")
        let sink = try await SMTPSinkPeer.start()
        defer { storm.stop(); sink.stop() }
        let configuration = Self.configuration(routes: ["storm.test": storm.port, "calm.test": sink.port])
        let engine = try Self.engine(fixture, configuration, policy: Self.quickPolicy(configuration))
        let start = try fixture.store.startCampaign(named: fixture.campaign)
        let summary = try await engine.run(campaign: start.campaignID)

        // A handful of connections for 300 recipients, not one each.
        let connections = try storm.connections()
        #expect(connections >= 3 && connections <= 8, "\(connections) connections to the 421 site")
        #expect(try storm.commands("MAIL").isEmpty)
        // The other site received all of its mail in the same run.
        #expect(try sink.transactions().count == 100)
        let report = try fixture.report()
        #expect(calm.allSatisfy { report[$0]?.status == "sent" })
        // Every recipient of the failing site deferred once, with the greeting's reply.
        #expect(stormy.allSatisfy { report[$0]?.status == "deferred" && report[$0]?.attempts == 1 }, "\(summary)")
        #expect(stormy.allSatisfy { report[$0]?.smtpCode == 421 })
        #expect(report[stormy[299]]?.response?.contains("suspended") == true, "\(report[stormy[299]]?.response ?? "")")
        #expect(summary.sent == 100 && summary.deferred == 300 && summary.bounced == 0, "\(summary)")
        #expect(summary.senderFailure == nil)
    }

    /// Yahoo's `[TSS04]` arrives as a greeting: the deferral rule suspends the site from
    /// there, so nobody more is tried this run.
    @Test func aTSS04GreetingSuspendsTheSiteByItsDeferralRule() async throws {
        let yahooish = (0..<60).map { "y\($0)@tss.test" }
        let calm = (0..<20).map { "c\($0)@calm.test" }
        let fixture = try Fixture(recipients: yahooish + calm)
        defer { try? FileManager.default.removeItem(atPath: fixture.folder) }
        let tss = try await HostileSMTPPeer.start(mode: "greet-tss04")
        let sink = try await SMTPSinkPeer.start()
        defer { tss.stop(); sink.stop() }
        let configuration = Self.configuration(routes: ["tss.test": tss.port, "calm.test": sink.port])
        let rule = try DeferralRule(key: "deferral_rules[0]", name: "tss04", text: "[TSS04]", suspend: "2h")
        let engine = try Self.engine(fixture, configuration, policy: Self.quickPolicy(configuration, rules: [rule]))
        let start = try fixture.store.startCampaign(named: fixture.campaign)
        let summary = try await engine.run(campaign: start.campaignID)

        let connections = try tss.connections()
        #expect(connections <= 5, "\(connections) connections")
        #expect(try sink.transactions().count == 20)
        let report = try fixture.report()
        let tried = yahooish.filter { report[$0]?.status == "deferred" }
        // The connections already opening when the first greeting came were deferred by
        // it; the rest were left for a later run (pending) or deferred with the site.
        #expect(!tried.isEmpty && tried.allSatisfy { report[$0]?.smtpCode == 421 })
        #expect(yahooish.allSatisfy { ["deferred", "pending"].contains(report[$0]?.status ?? "") }, "\(summary)")
        #expect(summary.sent == 20 && summary.bounced == 0)
    }

    // MARK: - The sender

    @Test func aRelayRefusingTheLoginSeesOneOrTwoLoginsAndNobodyIsAttempted() async throws {
        let recipients = (0..<40).map { "r\($0)@d\($0 % 8).test" }
        let fixture = try Fixture(recipients: recipients)
        defer { try? FileManager.default.removeItem(atPath: fixture.folder) }
        let relay = try await HostileSMTPPeer.start(mode: "auth-535")
        defer { relay.stop() }
        var configuration = Self.configuration(routes: [:])
        configuration.delivery.mode = .relay
        var settings = SalvoConfiguration.RelaySettings(host: "127.0.0.1")
        settings.port = relay.port
        settings.tls = "none"
        settings.username = "shop"
        settings.passwordEnv = "RELAY_PASSWORD"
        settings.allowPlaintextAuth = true
        configuration.delivery.relay = settings
        let engine = try Self.engine(fixture, configuration, environment: ["RELAY_PASSWORD": "wrong"])
        let start = try fixture.store.startCampaign(named: fixture.campaign)
        let summary = try await engine.run(campaign: start.campaignID)

        let logins = try relay.logins()
        #expect(logins >= 1 && logins <= 2, "\(logins) logins")
        #expect(try relay.commands("MAIL").isEmpty)
        let failure = try #require(summary.senderFailure, "\(summary)")
        #expect(failure.command.hasPrefix("AUTH"), "\(failure)")
        #expect(failure.reply.contains("535"), "\(failure)")
        #expect(failure.server.contains("\(relay.port)"))
        // Handed back, untouched: not deferred, not bounced, not attempted.
        #expect(summary.attempts == 0, "\(summary)")
        let report = try fixture.report()
        #expect(recipients.allSatisfy { report[$0]?.status == "pending" && report[$0]?.attempts == 0 })
    }

    @Test func aHELONameRefusedAtRCPTBouncesNobody() async throws {
        let recipients = (0..<30).map { "r\($0)@helo.test" }
        let fixture = try Fixture(recipients: recipients)
        defer { try? FileManager.default.removeItem(atPath: fixture.folder) }
        let peer = try await HostileSMTPPeer.start(mode: "helo-504")
        defer { peer.stop() }
        let configuration = Self.configuration(routes: ["helo.test": peer.port], helo: "engine")
        let engine = try Self.engine(fixture, configuration)
        let start = try fixture.store.startCampaign(named: fixture.campaign)
        let summary = try await engine.run(campaign: start.campaignID)

        #expect(summary.bounced == 0 && summary.sent == 0, "\(summary)")
        let failure = try #require(summary.senderFailure, "\(summary)")
        #expect(failure.reply.contains("504") && failure.reply.contains("Helo"), "\(failure)")
        // The transactions already on the wire when the first refusal came, no more.
        #expect(try peer.commands("MAIL").count <= 5)
        let report = try fixture.report()
        #expect(recipients.allSatisfy { ["pending", "deferred"].contains(report[$0]?.status ?? "") })
        #expect(try recipients.allSatisfy { try !fixture.store.isSuppressed($0) })
    }

    @Test func EHLOAndHELORefusedStopTheRouteAndHandEveryoneBack() async throws {
        let recipients = (0..<30).map { "r\($0)@ehlo.test" }
        let fixture = try Fixture(recipients: recipients)
        defer { try? FileManager.default.removeItem(atPath: fixture.folder) }
        let peer = try await HostileSMTPPeer.start(mode: "ehlo-504")
        defer { peer.stop() }
        let configuration = Self.configuration(routes: ["ehlo.test": peer.port], helo: "engine")
        let engine = try Self.engine(fixture, configuration)
        let start = try fixture.store.startCampaign(named: fixture.campaign)
        let summary = try await engine.run(campaign: start.campaignID)

        let connections = try peer.connections()
        #expect(connections <= 5, "\(connections) connections")
        let failure = try #require(summary.senderFailure, "\(summary)")
        #expect(failure.command.hasPrefix("HELO") || failure.command.hasPrefix("EHLO"), "\(failure)")
        #expect(summary.attempts == 0, "\(summary)")
        let report = try fixture.report()
        #expect(recipients.allSatisfy { report[$0]?.status == "pending" })
    }

    // MARK: - The connection

    @Test func aServerThatStallsAfterMAILDefersEveryoneAndBouncesNobody() async throws {
        let recipients = (0..<6).map { "r\($0)@stall.test" }
        let fixture = try Fixture(recipients: recipients)
        defer { try? FileManager.default.removeItem(atPath: fixture.folder) }
        let peer = try await HostileSMTPPeer.start(mode: "stall-after-mail")
        defer { peer.stop() }
        let configuration = Self.configuration(routes: ["stall.test": peer.port])
        let engine = try Self.engine(fixture, configuration, policy: Self.quickPolicy(configuration)) {
            $0.mx.timeouts = .uniform(.seconds(1))
        }
        let start = try fixture.store.startCampaign(named: fixture.campaign)
        let summary = try await engine.run(campaign: start.campaignID)

        #expect(summary.deferred == 6 && summary.bounced == 0 && summary.unknown == 0, "\(summary)")
        #expect(try peer.messages().isEmpty)
        let report = try fixture.report()
        #expect(recipients.allSatisfy { report[$0]?.status == "deferred" && report[$0]?.attempts == 1 })
    }

    // MARK: - The store

    @Test func aBusyStoreIsWaitedForAndNoOutcomeIsLost() async throws {
        let recipients = (0..<20).map { "r\($0)@ok.test" }
        let fixture = try Fixture(recipients: recipients)
        defer { try? FileManager.default.removeItem(atPath: fixture.folder) }
        let sink = try await SMTPSinkPeer.start()
        defer { sink.stop() }
        let store = FaultyStore(fixture.store)
        store.busy(commits: 3)
        let configuration = Self.configuration(routes: ["ok.test": sink.port])
        let engine = try Self.engine(fixture, configuration, store: store)
        let start = try fixture.store.startCampaign(named: fixture.campaign)
        let summary = try await engine.run(campaign: start.campaignID)

        #expect(store.snapshot.commitsRefused == 3)
        #expect(summary.sent == 20 && summary.lostOutcomes == 0, "\(summary)")
        #expect(try sink.transactions().count == 20)
        let report = try fixture.report()
        #expect(recipients.allSatisfy { report[$0]?.status == "sent" && report[$0]?.attempts == 1 })
    }

    @Test func anOutcomeTheStoreCannotKeepIsCountedNotDropped() async throws {
        let recipients = (0..<10).map { "r\($0)@ok.test" }
        let fixture = try Fixture(recipients: recipients)
        defer { try? FileManager.default.removeItem(atPath: fixture.folder) }
        let sink = try await SMTPSinkPeer.start()
        defer { sink.stop() }
        let store = FaultyStore(fixture.store)
        store.refuseOutcomes()
        let configuration = Self.configuration(routes: ["ok.test": sink.port])
        let engine = try Self.engine(fixture, configuration, store: store) {
            $0.commitRetryDelays = [.milliseconds(1), .milliseconds(1)]
        }
        let start = try fixture.store.startCampaign(named: fixture.campaign)
        let summary = try await engine.run(campaign: start.campaignID)

        // Every message the server took has an outcome the store could not keep: each is
        // counted, for the command to say so and exit non-zero.
        let delivered = try sink.transactions().count
        #expect(delivered > 0)
        #expect(summary.lostOutcomes == delivered, "\(summary), \(delivered) delivered")
        // Nothing was sent unmarked: the ones the server took are `sending` in the store
        // (recovered as `unknown`, never sent twice), the rest were never sent.
        let report = try fixture.report()
        let sent = recipients.filter { report[$0]?.status == "sent" }
        #expect(sent.isEmpty, "\(sent)")
    }

    // MARK: - Limits across processes

    /// Two engines on one store whose shared bucket holds five sends: five messages go in
    /// all, the rest wait in the store; an hour later on the bucket's clock, five more.
    @Test func twoEnginesOnOneStoreNeverExceedItsSharedRate() async throws {
        let recipients = (0..<40).map { "r\($0)@d\($0 % 4).test" }
        let fixture = try Fixture(recipients: recipients)
        defer { try? FileManager.default.removeItem(atPath: fixture.folder) }
        let sink = try await SMTPSinkPeer.start()
        defer { sink.stop() }
        let store = FaultyStore(fixture.store)
        store.limitSends(to: 5, refillPerHour: 5)
        var configuration = Self.configuration(routes: ["d0.test": sink.port, "d1.test": sink.port,
                                                        "d2.test": sink.port, "d3.test": sink.port])
        // Locally generous: only the store's bucket holds the two processes back.
        configuration.limits.global.rate = Rate(count: 1000, per: 1)
        let start = try fixture.store.startCampaign(named: fixture.campaign)
        let first = try Self.engine(fixture, configuration, store: store)
        let second = try Self.engine(fixture, configuration, store: store)
        async let a = first.run(campaign: start.campaignID)
        async let b = second.run(campaign: start.campaignID)
        let (one, two) = try await (a, b)

        #expect(one.sent + two.sent == 5, "\(one) \(two)")
        #expect(try sink.transactions().count == 5)
        #expect(store.snapshot.granted == 5)
        #expect(store.snapshot.keysAsked.contains("global"))
        var report = try fixture.report()
        #expect(recipients.filter { report[$0]?.status == "sent" }.count == 5)
        #expect(recipients.filter { report[$0]?.status == "pending" }.count == 35)

        store.advance(hours: 1)
        let third = try await Self.engine(fixture, configuration, store: store).run(campaign: start.campaignID)
        #expect(third.sent == 5, "\(third)")
        #expect(try sink.transactions().count == 10)
        report = try fixture.report()
        #expect(recipients.filter { report[$0]?.status == "sent" }.count == 10)
    }
}
