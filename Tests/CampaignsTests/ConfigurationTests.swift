@testable import Campaigns
import Delivery
import Foundation
import MailMessage
import Testing
import TestPeers

@Suite struct ConfigurationTests {
    func load(_ text: String) throws -> SalvoConfiguration {
        try SalvoConfiguration(yaml: YAMLValue.parse(text, file: "/etc/salvo/salvo.yml"))
    }

    @Test func readsTheDesignExample() throws {
        let config = try load("""
            database: salvo.db
            helo: mail.shop.example
            delivery:
              mode: relay
              relay:
                host: smtp.provider.example
                port: 587
                tls: starttls
                username: news@shop.example
                password_env: SALVO_SMTP_PASSWORD
              routes:
                example.test: 127.0.0.1:2525
              tls: opportunistic
            dns:
              server: 127.0.0.1:5353
            dkim:
              domain: shop.example
              selector: s1
              key: keys/s1.pem
            limits:
              global:  { connections: 200, rate: 2000/s }
              default: { connections: 5, messages_per_connection: 100, recipients_per_transaction: 50 }
              domains:
                yahoo.com: { rate: 100/hour }
              sites:
                "*.google.com": { connections: 10, rate: 3000/min }
            retry:
              intervals: [15m, 1h]
              max_age: 4h
            unsubscribe:
              secret_env: MY_SECRET
              mailto: unsubscribe@shop.example
            """)
        #expect(config.database == "/etc/salvo/salvo.db")
        #expect(config.delivery.mode == .relay)
        #expect(config.delivery.relay?.host == "smtp.provider.example")
        #expect(config.delivery.routes["example.test"] == .init(host: "127.0.0.1", port: 2525))
        #expect(config.dns.server == .init(host: "127.0.0.1", port: 5353))
        #expect(config.dkim?.key == "/etc/salvo/keys/s1.pem")
        #expect(config.limits.global.rate == Rate(count: 2000, per: 1))
        #expect(config.limits.default.recipientsPerTransaction == 50)
        #expect(config.limits.domains["yahoo.com"]?.rate == Rate(count: 100, per: 3600))
        #expect(config.limits.sites["*.google.com"]?.connections == 10)
        #expect(config.retry.intervals.map(\.seconds) == [900, 3600])
        #expect(config.retry.maxAge.seconds == 4 * 3600)
        #expect(config.unsubscribe.secretEnv == "MY_SECRET")
    }

    @Test func defaultsWhenEmpty() throws {
        let config = try load("")
        #expect(config.delivery.mode == .mx)
        #expect(config.retry.intervals.map(\.seconds) == [900])
        #expect(config.retry.maxAge.seconds == 14_400)
        #expect(config.unsubscribe.secretEnv == "SALVO_UNSUBSCRIBE_SECRET")
        #expect(config.limits.default.connections == 5)
    }

    @Test(arguments: [
        ("delivery:\n  mode: smtp\n", "/etc/salvo/salvo.yml:2: delivery.mode: expected one of mx | relay, found 'smtp'"),
        ("limits:\n  default:\n    rate: fast\n", "/etc/salvo/salvo.yml:3: limits.default.rate: expected a rate such as 100/hour, 20/min or 5/s, found 'fast'"),
        ("retry:\n  max_age: 4 hours\n", "/etc/salvo/salvo.yml:2: retry.max_age: expected a duration such as 30s, 15m, 4h or 2d, found '4 hours'"),
        ("delivery:\n  rely: {}\n", "/etc/salvo/salvo.yml:2: delivery.rely: unknown key (expected one of: mode, relay, routes, tls, ca_file, suspend_after_failed_connections, source_address)"),
        ("delivery:\n  suspend_after_failed_connections: 0\n", "/etc/salvo/salvo.yml:2: delivery.suspend_after_failed_connections: must be at least 1"),
        ("delivery:\n  suspend_after_failed_connections: three\n", "/etc/salvo/salvo.yml:2: delivery.suspend_after_failed_connections: expected a whole number, found 'three'"),
        ("delivery:\n  mode: relay\n", "/etc/salvo/salvo.yml:2: delivery: mode is relay but no relay is configured (delivery.relay.host)"),
        ("limits:\n  default: { connections: 0 }\n", "/etc/salvo/salvo.yml:2: limits.default.connections: must be at least 1"),
        ("helo: [a\n", "/etc/salvo/salvo.yml:2: not valid YAML"),
        ("limits:\n  sites:\n    \"*.x.test\": { tls: always }\n", "/etc/salvo/salvo.yml:3: limits.sites.*.x.test.tls: expected one of required | opportunistic, found 'always'"),
        ("limits:\n  sites:\n    \"*.x.test\":\n      source_addresses: [192.0.2.10, mail.shop.test]\n",
         "/etc/salvo/salvo.yml:4: limits.sites.*.x.test.source_addresses[1]: is not an IP address (mail.shop.test)"),
        ("limits:\n  default:\n    source_addresses: [192.0.2.10, 192.0.2.10]\n",
         "/etc/salvo/salvo.yml:3: limits.default.source_addresses[1]: 192.0.2.10 is listed twice"),
        ("limits:\n  default:\n    source_addresses: []\n", "/etc/salvo/salvo.yml:3: limits.default.source_addresses: is empty"),
        ("limits:\n  global:\n    source_addresses: [192.0.2.10]\n", "/etc/salvo/salvo.yml:3: limits.global.source_addresses: belongs to limits.default"),
    ])
    func errorsNameFileLineAndKey(text: String, expected: String) {
        do {
            _ = try load(text)
            Issue.record("accepted: \(text)")
        } catch {
            #expect("\(error)".hasPrefix(expected), "\(error)")
        }
    }

    /// `delivery.suspend_after_failed_connections` reaches the engine; without it the
    /// engine's own default stands.
    @Test func suspendAfterFailedConnectionsReachesTheEngine() throws {
        let engineDefault = DeliveryEngine.Settings(owner: "t", mx: try load("").mxSession()).suspendAfterFailedConnections
        #expect(try CampaignSender.engineSettings(load(""), environment: [:]).suspendAfterFailedConnections == engineDefault)
        let configured = try load("delivery:\n  suspend_after_failed_connections: \(engineDefault + 4)\n")
        #expect(configured.delivery.suspendAfterFailedConnections == engineDefault + 4)
        #expect(try CampaignSender.engineSettings(configured, environment: [:]).suspendAfterFailedConnections == engineDefault + 4)
    }

    /// A claim holds what `limits.global.rate` lets go out in 30 s, 1 to 500 deliveries.
    @Test func theClaimIsSizedToTheGlobalRate() throws {
        #expect(try CampaignSender.engineSettings(load(""), environment: [:]).claimBatch == 500)
        for (rate, claim) in [("2/s", 60), ("100/hour", 1), ("3000/min", 500), ("7/min", 4), ("1000/s", 500)] {
            let configuration = try load("limits:\n  global: { rate: \(rate) }\n")
            #expect(try CampaignSender.engineSettings(configuration, environment: [:]).claimBatch == claim, "\(rate)")
        }
    }

    @Test func reputationGuard() throws {
        #expect(try load("").reputationGuard?.maxBounceRate == 0.05)
        let custom = try load("reputation_guard: { bounce_rate: 2%, minimum_attempts: 100 }\n").reputationGuard
        #expect(custom?.maxBounceRate == 0.02 && custom?.minimumAttempts == 100)
        #expect(try load("reputation_guard: { enabled: false }\n").reputationGuard == nil)
        #expect(throws: ConfigurationError.self) { try load("reputation_guard: { bounce_rate: lots }\n") }
    }

    @Test func limitsMayRequireTLS() throws {
        let configuration = try load("limits:\n  sites:\n    \"*.google.com\": { tls: required }\n  domains:\n    shop.test: { tls: opportunistic }\n")
        #expect(configuration.limits.sites["*.google.com"]?.requireTLS == true)
        #expect(configuration.limits.domains["shop.test"]?.requireTLS == false)
        #expect(try load("").limits.default.requireTLS == nil)
        // The shipped sample writes the provider presets out, TLS included.
        let sample = try SalvoConfiguration.load(path: TestPeers.repositoryRoot.appendingPathComponent("samples/salvo.yml").path)
        #expect(sample.limits.sites["*.comcast.net"]?.requireTLS == true)
        #expect(sample.limits.sites["*.comcast.net"]?.connections == 25)
    }

    /// `source_addresses` in `default`, a `sites` pattern or a `domains` entry reaches the
    /// limits a pool is made with; a domain that names its own gets a pool of its own.
    @Test func sourceAddressesReachThePools() throws {
        let configuration = try load("""
            limits:
              default: { source_addresses: [192.0.2.10, 192.0.2.11] }
              sites:
                "*.google.com": { source_addresses: "2001:db8::25" }
              domains:
                shop.test: { source_addresses: [192.0.2.12] }
            """)
        #expect(configuration.limits.default.sourceAddresses == ["192.0.2.10", "192.0.2.11"])
        #expect(configuration.limits.sites["*.google.com"]?.sourceAddresses == ["2001:db8::25"])
        let limits = try configuration.deliveryPolicy().limits
        let other = try #require(SiteKey(routerSite: "mx:mx.other.test"))
        #expect(limits.resolve(domain: "other.test", site: other).sourceAddresses == ["192.0.2.10", "192.0.2.11"])
        let google = try #require(SiteKey(routerSite: "mx:aspmx.l.google.com"))
        #expect(limits.resolve(domain: "gmail.com", site: google).sourceAddresses == ["2001:db8::25"])
        let shop = limits.resolve(domain: "shop.test", site: other)
        #expect(shop.sourceAddresses == ["192.0.2.12"] && shop.site == other.split(for: "shop.test"))
        #expect(try load("").deliveryPolicy().limits.resolve(domain: "other.test", site: other).sourceAddresses == [])
    }

    @Test func dailyQuota() throws {
        #expect(try load("").quota == nil)
        #expect(try load("quota: { per_day: 30 }\n").quota == DailyQuota(perDay: 30))
        #expect(try load("quota:\n  per_day: 5000\n").quota?.perDay == 5000)
    }

    @Test(arguments: [
        ("quota:\n  per_day: 0\n", "/etc/salvo/salvo.yml:2: quota.per_day: must be at least 1"),
        ("quota:\n  per_day: lots\n", "/etc/salvo/salvo.yml:2: quota.per_day: expected a whole number, found 'lots'"),
        ("quota:\n  per_hour: 5\n", "/etc/salvo/salvo.yml:2: quota.per_hour: unknown key (expected one of: per_day)"),
        ("quota: {}\n", "/etc/salvo/salvo.yml:1: quota: needs per_day"),
        ("quota: 30\n", "/etc/salvo/salvo.yml:1: quota: expected a mapping"),
    ])
    func quotaErrorsNameFileLineAndKey(text: String, expected: String) {
        do {
            _ = try load(text)
            Issue.record("accepted: \(text)")
        } catch {
            #expect("\(error)".hasPrefix(expected), "\(error)")
        }
    }

    /// `notify:` in a campaign file: an address, checked like `from`, the error naming the
    /// file, the line and the key.
    @Test func campaignNotifyAddress() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("salvo-notify-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try "Hello\n".write(toFile: folder + "/body.txt", atomically: true, encoding: .utf8)
        let base = "name: c\nlist: l\nfrom: \"Shop <news@shop.example>\"\nsubject: hi\ntext: body.txt\ntransactional: true\n"
        try (base + "notify: Ops <ops@shop.example>\n").write(toFile: folder + "/ok.yml", atomically: true, encoding: .utf8)
        #expect(try CampaignDefinition.load(path: folder + "/ok.yml").notify == "Ops <ops@shop.example>")
        #expect(try CampaignDefinition.load(path: folder + "/ok.yml").notify.map { try Mailbox(parsing: $0).address } == "ops@shop.example")
        try (base + "notify: not an address\n").write(toFile: folder + "/bad.yml", atomically: true, encoding: .utf8)
        #expect {
            try CampaignDefinition.load(path: folder + "/bad.yml")
        } throws: { "\($0)".hasPrefix("\(folder)/bad.yml:7: notify: not a valid address") }
        try (base + "notify: \"\"\n").write(toFile: folder + "/empty.yml", atomically: true, encoding: .utf8)
        #expect {
            try CampaignDefinition.load(path: folder + "/empty.yml")
        } throws: { "\($0)".hasPrefix("\(folder)/empty.yml:7: notify: must not be empty") }
    }

    @Test func ratesAndDurations() {
        #expect(Rate("100/hour") == Rate(count: 100, per: 3600))
        #expect(Rate("5/s")?.perSecond == 5)
        #expect(Rate("3000/min")?.description == "3000/min")
        #expect(Rate("0/s") == nil)
        #expect(Rate("ten/s") == nil)
        #expect(ConfiguredDuration("2d")?.seconds == 172_800)
        #expect(ConfiguredDuration("30s")?.seconds == 30)
        #expect(ConfiguredDuration("15") == nil)
    }
}
