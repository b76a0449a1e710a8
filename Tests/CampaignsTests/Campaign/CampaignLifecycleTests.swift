@testable import Campaigns
import Delivery
import Foundation
import GRDB
import MailMessage
import TestPeers
import Testing

/// A campaign's life in the store: checked again before sending, updated, cloned,
/// deleted or archived, its audience decided at start, its schedule.
@Suite struct CampaignLifecycleTests {
    static let secret = String(repeating: "k", count: 40)

    func configuration() -> SalvoConfiguration { SalvoConfiguration() }

    @Test func aFieldAddedToATemplateAfterCreateIsRefusedBeforeAnythingIsSent() async throws {
        let fixture = try DeliveryFixture(csv: DeliveryFixture.csv(count: 3))
        defer { fixture.remove() }
        let template = fixture.folder + "/spring.txt.mustache"
        try "Hello {{name}}\nyour code is {{coupon}}.\n".write(toFile: template, atomically: true, encoding: .utf8)

        #expect { try fixture.store.checkedCampaign(named: fixture.campaign, configuration: configuration()) } throws: { error in
            (error as? TemplateError) == TemplateError(file: template, line: 2, kind: .unknownField("coupon"))
        }
        #expect("\(TemplateError(file: template, line: 2, kind: .unknownField("coupon")))".hasPrefix("\(template):2: unknown field 'coupon'"))
        // The sender stops at the same check: the campaign is not started, nobody is queued.
        let sender = CampaignSender(campaign: fixture.campaign, store: fixture.store, configuration: configuration())
        await #expect(throws: TemplateError.self) { try await sender.run() }
        #expect(try fixture.states().isEmpty)
        #expect(try fixture.store.campaignState(named: fixture.campaign) == "draft")
    }

    @Test func aChangedCampaignFileIsNamedAsAWarning() throws {
        let fixture = try DeliveryFixture(csv: DeliveryFixture.csv(count: 3))
        defer { fixture.remove() }
        let file = fixture.folder + "/spring.yml"
        try """
            name: spring
            list: customers
            from: "Shop <news@shop.example>"
            subject: "A new subject"
            text: spring.txt.mustache
            transactional: true
            """.write(toFile: file, atomically: true, encoding: .utf8)
        let checked = try fixture.store.checkedCampaign(named: fixture.campaign, configuration: configuration())
        #expect(checked.definition.subject == "Hello {{name}}")
        #expect(checked.warnings.count == 1 && checked.warnings[0].contains("has changed since campaign 'spring' was stored"))
    }

    @Test func loadResolvesPathsAbsoluteAndRequiresAnUnsubscribeLinkOfBulkMail() throws {
        let (_, folder) = try temporaryStore()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try FileManager.default.createDirectory(atPath: folder + "/campaigns/templates", withIntermediateDirectories: true)
        try "Hi\n".write(toFile: folder + "/campaigns/templates/t.txt", atomically: true, encoding: .utf8)
        let bulk = "name: c\nlist: l\nfrom: a@shop.example\nsubject: s\ntext: templates/t.txt\n"
        try bulk.write(toFile: folder + "/campaigns/c.yml", atomically: true, encoding: .utf8)
        #expect { try CampaignDefinition.load(path: folder + "/campaigns/c.yml") } throws: { error in
            "\(error)".contains("c.yml:") && "\(error)".contains("a bulk campaign needs an unsubscribe link")
        }
        try (bulk + "transactional: true\naudience: live\nexclude: [old, older]\n")
            .write(toFile: folder + "/campaigns/c.yml", atomically: true, encoding: .utf8)
        let definition = try CampaignDefinition.load(path: folder + "/campaigns/c.yml")
        #expect(definition.text == (folder as NSString).standardizingPath + "/campaigns/templates/t.txt")
        #expect(definition.text?.hasPrefix("/") == true)
        #expect(definition.audienceMode == .live && definition.exclude == ["old", "older"] && definition.transactional == true)

        try (bulk + "unsubscribe: https://shop.example/u\naudience: sometimes\n").write(toFile: folder + "/campaigns/c.yml", atomically: true, encoding: .utf8)
        #expect { try CampaignDefinition.load(path: folder + "/campaigns/c.yml") } throws: { error in
            "\(error)".contains("c.yml:7: audience: expected one of start | live, found 'sometimes'")
        }
    }

    @Test func aDraftChangesAnythingARunningCampaignOnlyWhatIsSafeAFinishedOneNothing() async throws {
        let fixture = try DeliveryFixture(csv: DeliveryFixture.csv(count: 4))
        defer { fixture.remove() }
        let store = fixture.store
        var definition = try store.campaign(named: fixture.campaign).definition
        let path = fixture.folder + "/spring.yml"
        definition.segment = #"country == "NG""#
        definition.subject = "Spring, {{name}}"
        let update = try store.updateCampaign(definition, sourcePath: path)
        #expect(update == CampaignUpdate(changed: ["segment", "subject"], state: "draft"))
        #expect(try store.campaignDetails(named: fixture.campaign).audience == 2)

        // A change the list cannot satisfy is refused as at create, and nothing changes.
        var broken = definition
        broken.segment = #"plan == "gold""#
        #expect(throws: CampaignError.self) { try store.updateCampaign(broken, sourcePath: path) }
        #expect(try store.campaign(named: fixture.campaign).definition.segment == #"country == "NG""#)

        _ = try store.startCampaign(named: fixture.campaign, now: at(10))
        var running = definition
        running.subject = "Last days, {{name}}"
        running.replyTo = "help@shop.example"
        #expect(try store.updateCampaign(running, sourcePath: path).changed == ["reply_to", "subject"])
        var unsafe = running
        unsafe.segment = nil
        unsafe.from = "other@shop.example"
        #expect { try store.updateCampaign(unsafe, sourcePath: path) } throws: { error in
            let text = "\(error)"
            return text.contains("campaign 'spring' is running") && text.contains("segment: who gets it was decided when it started")
                && text.contains("from: messages already delivered came from it")
        }
        #expect(try store.campaign(named: fixture.campaign).definition == running)

        _ = try store.cancelCampaign(named: fixture.campaign, now: at(20))
        running.subject = "Too late"
        #expect { try store.updateCampaign(running, sourcePath: path) } throws: { error in
            "\(error)".contains("is cancelled: a sent campaign does not change")
        }
    }

    @Test func cloneDeleteAndArchive() async throws {
        let fixture = try DeliveryFixture(csv: DeliveryFixture.csv(count: 3))
        defer { fixture.remove() }
        let store = fixture.store
        try store.cloneCampaign(named: fixture.campaign, as: "spring-2", now: at(5))
        #expect(try store.campaignState(named: "spring-2") == "draft")
        #expect(try store.campaign(named: "spring-2").definition.subject == "Hello {{name}}")
        #expect(throws: StoreError.campaignExists("spring-2")) { try store.cloneCampaign(named: fixture.campaign, as: "spring-2") }

        #expect(try store.deleteCampaign(named: "spring-2") == .deleted)
        #expect(throws: StoreError.campaignNotFound("spring-2")) { try store.campaign(named: "spring-2") }

        let id = try store.startCampaign(named: fixture.campaign, now: at(10)).campaignID
        #expect { try store.deleteCampaign(named: fixture.campaign) } throws: { "\($0)".contains("is running: cancel it first") }
        let claimed = try await store.claimDue(campaign: id, now: at(10), limit: 10, owner: "o")
        _ = try await store.markSending(claimed.map(\.id), owner: "o", now: at(10))
        try await store.record(claimed.map { fixture.outcome($0.id, .sent) }, hardBounces: [], owner: "o")
        _ = try await store.finishIfComplete(campaign: id, now: at(11))
        #expect(try store.campaignState(named: fixture.campaign) == "finished")

        #expect(try store.deleteCampaign(named: fixture.campaign, now: at(12)) == .archived)
        #expect(try store.campaigns().isEmpty)
        #expect(try store.campaigns(includeArchived: true).map(\.archived) == [true])
        #expect(try store.deliveryReport(campaign: fixture.campaign).count == 3)
        #expect(try store.campaignDetails(named: fixture.campaign).archivedAt == at(12))
    }

    @Test func excludeSkipsThoseSentAnotherCampaignWhateverTheirCase() async throws {
        let fixture = try DeliveryFixture(csv: DeliveryFixture.csv(count: 4))
        defer { fixture.remove() }
        let store = fixture.store
        let id = try store.startCampaign(named: fixture.campaign, now: at(10)).campaignID
        let claimed = try await store.claimDue(campaign: id, now: at(10), limit: 2, owner: "o")
        _ = try await store.markSending(claimed.map(\.id), owner: "o", now: at(10))
        try await store.record([fixture.outcome(claimed[0].id, .sent), fixture.outcome(claimed[1].id, .bounced, code: 550)],
                               hardBounces: [], owner: "o")
        _ = try store.cancelCampaign(named: fixture.campaign, now: at(11))

        let other = writeFile(Array("email,name\nUSER0@A.EXAMPLE,Shouting\nuser1@b.example,B\nuser2@c.example,C\nnew@d.example,N\n".utf8),
                              in: fixture.folder, name: "other.csv")
        _ = try ListImport(listName: "others", path: other).run(in: store)
        var definition = CampaignDefinition(name: "follow-up", list: "others", from: "Shop <news@shop.example>",
                                            subject: "Hi", text: fixture.folder + "/spring.txt.mustache")
        definition.exclude = ["nope"]
        #expect { try store.createCampaign(definition, sourcePath: "f.yml") } throws: { "\($0)".contains("exclude names 'nope'") }
        definition.exclude = [fixture.campaign]
        try store.createCampaign(definition, sourcePath: "f.yml")
        let start = try store.startCampaign(named: "follow-up", now: at(20))
        let sentBefore = claimed[0].email
        let emails = try await store.writer.read { db in
            try String.fetchAll(db, sql: "SELECT email FROM deliveries WHERE campaign_id = ? ORDER BY email", arguments: [start.campaignID])
        }
        #expect(!emails.contains { $0.lowercased() == sentBefore.lowercased() })
        #expect(emails.count == 3 && start.queued == 3)
    }

    @Test func aScheduleInThePastIsRefusedAndStatusTimesAreKept() async throws {
        let fixture = try DeliveryFixture(csv: DeliveryFixture.csv(count: 2))
        defer { fixture.remove() }
        let store = fixture.store
        #expect(throws: ScheduleError(campaign: fixture.campaign, time: at(99), now: at(100))) {
            try store.scheduleCampaign(named: fixture.campaign, at: at(99), now: at(100))
        }
        try store.scheduleCampaign(named: fixture.campaign, at: at(100), now: at(100))
        #expect(try store.campaignTiming(named: fixture.campaign) == CampaignTiming(scheduledAt: at(100)))
        #expect(try store.campaignDetails(named: fixture.campaign).audience == 2)

        let id = try store.startCampaign(named: fixture.campaign, now: at(200)).campaignID
        let claimed = try await store.claimDue(campaign: id, now: at(200), limit: 2, owner: "o")
        _ = try await store.markSending(claimed.map(\.id), owner: "o", now: at(200))
        try await store.record([fixture.outcome(claimed[0].id, .deferred, code: 451, next: 1_100),
                                fixture.outcome(claimed[1].id, .deferred, code: 451, next: 1_000)], hardBounces: [], owner: "o")
        let timing = try store.campaignTiming(named: fixture.campaign)
        #expect(timing.startedAt == at(200) && timing.nextRetryAt == at(1_000))
    }

    @Test func theUnsubscribeSecretIsLongEnoughAndMayComeFromAFile() throws {
        let (_, folder) = try temporaryStore()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try "unsubscribe:\n  secret_file: secret.txt\n".write(toFile: folder + "/salvo.yml", atomically: true, encoding: .utf8)
        let configuration = try SalvoConfiguration.load(path: folder + "/salvo.yml")
        #expect(throws: ConfigurationError.self) { try configuration.unsubscribeSecret(environment: [:]) }
        try (Self.secret + "\n").write(toFile: folder + "/secret.txt", atomically: true, encoding: .utf8)
        #expect(try configuration.unsubscribeSecret(environment: [:]) == Array(Self.secret.utf8))
        // The variable wins over the file, and a short one is refused naming it.
        #expect(throws: UnsubscribeSecretError(source: "$SALVO_UNSUBSCRIBE_SECRET", length: 1)) {
            try configuration.unsubscribeSecret(environment: ["SALVO_UNSUBSCRIBE_SECRET": "a"])
        }
        #expect("\(UnsubscribeSecretError(source: "$SALVO_UNSUBSCRIBE_SECRET", length: 1))".contains("must be at least 32"))
        var generator = SeededGenerator(seed: 7)
        let made = SalvoConfiguration.newSecret(using: &generator)
        #expect(made.utf8.count == 64 && !made.contains("/") && !made.contains("+"))
    }

    @Test func aDKIMListGivesOneSignerPerKey() throws {
        let (_, folder) = try temporaryStore()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try DKIMKey.generate(.rsa).pemRepresentation.write(toFile: folder + "/rsa.pem", atomically: true, encoding: .utf8)
        try DKIMKey.generate(.ed25519).pemRepresentation.write(toFile: folder + "/ed.pem", atomically: true, encoding: .utf8)
        try """
            dkim:
              - { domain: shop.example, selector: rsa1, key: rsa.pem }
              - { domain: shop.example, selector: ed1, key: ed.pem }
            """.write(toFile: folder + "/salvo.yml", atomically: true, encoding: .utf8)
        let signers = try SalvoConfiguration.load(path: folder + "/salvo.yml").dkimSigners()
        #expect(signers.map(\.selector) == ["rsa1", "ed1"])
        #expect(signers.map(\.key.algorithm) == [.rsa, .ed25519])
        try "dkim: { domain: shop.example, selector: s1, key: ed.pem }\n".write(toFile: folder + "/salvo.yml", atomically: true, encoding: .utf8)
        #expect(try SalvoConfiguration.load(path: folder + "/salvo.yml").dkimSigners().map(\.selector) == ["s1"])
    }
}
