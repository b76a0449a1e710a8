import ArgumentParser
import Campaigns
import Foundation

struct CampaignCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "campaign",
        abstract: "Create, change, show, clone, delete and list campaigns.",
        subcommands: [Create.self, Update.self, Show.self, Clone.self, Delete.self, List.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check a campaign file and store it as a draft.",
            discussion: """
                Checks before storing anything: the list exists, the segment parses and uses \
                the list's fields, the templates exist, parse and use only the list's columns \
                and the built-ins (email, name, first_name, last_name, campaign, list, \
                unsubscribe_url, unsubscribe_token), a bulk campaign has an unsubscribe link \
                (or says transactional: true), the excluded campaigns exist. Errors name the \
                file and line. Template paths are stored absolute.

                Example:
                  salvo campaign create samples/spring-sale.yml
                """)

        @OptionGroup var options: CampaignFileArguments

        func run() async throws {
            try await options.global.withDatabase { configuration, opened in try await create(configuration, opened.store) }
        }

        private func create(_ configuration: SalvoConfiguration, _ store: any SalvoDatabase) async throws {
            let path = CampaignDefinition.absolutePath(options.file)
            let definition = try CampaignDefinition.load(path: options.file)
            try await store.createCampaign(definition, sourcePath: path, now: Date())
            let variable = configuration.unsubscribe.secretEnv
            if try definition.messageTemplate(campaignFile: path).usesUnsubscribeToken,
               try configuration.unsubscribeSecret() == nil {
                printError("warning: the templates use {{unsubscribe_token}}: set \(variable) (or unsubscribe.secret_file) before preview and send")
            }
            if definition.tracks, configuration.web.publicURL == nil {
                printError("warning: track: needs web.public_url (where salvo serve answers): set it before preview and send")
            }
            let count = try await store.count(list: definition.list, segment: definition.segment)
            print("created campaign '\(definition.name)': \(count) recipients of list '\(definition.list)'\(definition.segment.map { " match \($0)" } ?? "")")
        }
    }

    struct Update: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Apply a changed campaign file to the stored campaign of its name.",
            discussion: """
                Checked as at create. A draft or scheduled campaign may change anything but \
                its name (a scheduled one keeps its time). A running or paused one may change \
                only subject, html, text, reply_to and notify, for the messages not yet sent \
                (from the next salvo send or salvo run; pause and resume to switch a send in \
                progress); list, segment, audience, exclude, from, unsubscribe, transactional \
                and to are refused with the reason. A finished or cancelled campaign does not \
                change.

                Example:
                  salvo campaign update campaigns/spring-sale.yml
                """)

        @OptionGroup var options: CampaignFileArguments

        func run() async throws {
            let definition = try CampaignDefinition.load(path: options.file)
            let update = try await options.global.withDatabase { store in
                try await store.updateCampaign(definition, sourcePath: CampaignDefinition.absolutePath(options.file))
            }
            if update.changed.isEmpty {
                print("campaign '\(definition.name)' (\(update.state)) is as \(options.file) says: nothing changed")
            } else {
                print("updated campaign '\(definition.name)' (\(update.state)): \(update.changed.joined(separator: ", "))")
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show a campaign's stored settings, state, schedule and audience.",
            discussion: "Example:\n  salvo campaign show spring-sale")

        @OptionGroup var options: CampaignArguments

        func run() async throws {
            let details = try await options.global.withDatabase { store in try await store.campaignDetails(named: options.campaign) }
            let d = details.definition
            print("campaign \(d.name): \(details.state)\(details.reason.map { " (\($0))" } ?? "")\(details.archivedAt.map { ", archived \($0.formatted(.iso8601))" } ?? "")")
            print("file:         \(details.sourcePath)")
            print("list:         \(d.list)")
            print("segment:      \(d.segment ?? "(everyone on the list)")")
            print("audience:     \(details.audience) recipients" + (details.audienceDecided
                ? " (decided at start\(d.audienceMode == .live ? "; live: newcomers join at each send" : ""))"
                : " match today (decided when it starts\(d.audienceMode == .live ? "; live: newcomers join later too" : ""))"))
            if let exclude = d.exclude { print("excludes:     recipients sent \(exclude.joined(separator: ", "))") }
            print("from:         \(d.from)")
            if let replyTo = d.replyTo { print("reply-to:     \(replyTo)") }
            if let to = d.to { print("to:           \(to) (one shared message)") }
            print("subject:      \(d.subject)")
            if let html = d.html { print("html:         \(html)") }
            if let text = d.text { print("text:         \(text)") }
            print("unsubscribe:  \(d.unsubscribe ?? (d.transactional == true ? "none (transactional)" : "none"))")
            if let notify = d.notify { print("notify:       \(notify)") }
            if let track = d.track { print("track:        " + [track.opens ? "opens" : nil, track.clicks ? "clicks" : nil].compactMap { $0 }.joined(separator: ", ")) }
            print("created:      \(details.createdAt.formatted(.iso8601))")
            if let at = details.scheduledAt { print("scheduled:    \(at.formatted(.iso8601))") }
            if let at = details.startedAt { print("started:      \(at.formatted(.iso8601))") }
            if let at = details.finishedAt { print("finished:     \(at.formatted(.iso8601))") }
        }
    }

    struct Clone: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Make a new draft with a campaign's stored settings.",
            discussion: "Example:\n  salvo campaign clone spring-sale spring-sale-2")

        @OptionGroup var global: GlobalOptions
        @Argument(help: "The campaign to copy (any state, archived too).") var campaign: String
        @Argument(help: "The new campaign's name.") var newName: String

        func run() async throws {
            let details = try await global.withDatabase { store in
                try await store.cloneCampaign(named: campaign, as: newName, now: Date())
                return try await store.campaignDetails(named: newName)
            }
            print("created campaign '\(newName)' from '\(campaign)': \(details.audience) recipients of list '\(details.definition.list)' match today")
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Delete a draft or scheduled campaign; archive a finished or cancelled one (its report stays).",
            discussion: "Example:\n  salvo campaign delete spring-sale")

        @OptionGroup var options: CampaignArguments

        func run() async throws {
            switch try await options.global.withDatabase({ store in try await store.deleteCampaign(named: options.campaign, now: Date()) }) {
            case .deleted: print("deleted campaign '\(options.campaign)'")
            case .archived: print("archived campaign '\(options.campaign)': `salvo report \(options.campaign)` still has its report; `salvo campaign list --all` shows it")
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show the campaigns with their list, segment and state.",
            discussion: "Examples:\n  salvo campaign list\n  salvo campaign list --all")

        @OptionGroup var global: GlobalOptions
        @Flag(help: "Include archived campaigns.") var all = false

        func run() async throws {
            let campaigns = try await global.withDatabase { store in try await store.campaigns(includeArchived: all) }
            if campaigns.isEmpty {
                print("no campaigns yet: create one with `salvo campaign create FILE.yml`")
                return
            }
            for campaign in campaigns {
                print("\(campaign.name)  [\(campaign.state)\(campaign.archived ? ", archived" : "")]  list \(campaign.list)\(campaign.segment.map { ", segment \($0)" } ?? "")\(campaign.scheduledAt.map { ", at \($0.formatted(.iso8601))" } ?? "")")
            }
        }
    }
}

struct PreviewCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "preview",
        abstract: "Show the message one recipient would receive: the exact bytes, the decoded text, or the HTML as a page.",
        discussion: """
            Without --recipient, the first recipient of the campaign's segment. Templates are \
            read from their files again and checked as at create, so a preview shows the \
            current text or the error a send would stop at. The effective From, Reply-To and \
            List-Unsubscribe go to stderr (with --text, at the top).

            Examples:
              salvo preview spring-sale
              salvo preview spring-sale --recipient ada.okafor@example.com > message.eml
              salvo preview spring-sale --text
              salvo preview spring-sale --html preview.html
            """)

    @OptionGroup var options: CampaignArguments
    var global: GlobalOptions { options.global }
    var campaign: String { options.campaign }

    @Option(help: ArgumentHelp("Preview for this address of the campaign's list.", valueName: "EMAIL"))
    var recipient: String?

    @Flag(help: "Print the headers a reader sees and the decoded text part, instead of the raw message.")
    var text = false

    @Option(help: ArgumentHelp("Write the HTML part to this file, as a page for a browser.", valueName: "FILE"))
    var html: String?

    func run() async throws {
        try await global.withDatabase { configuration, opened in try await preview(configuration, opened.store) }
    }

    private func preview(_ configuration: SalvoConfiguration, _ store: any SalvoDatabase) async throws {
        let checked = try await store.checkedCampaign(named: campaign, configuration: configuration,
                                                      environment: ProcessInfo.processInfo.environment)
        for warning in checked.warnings { printError("warning: \(warning)") }
        let definition = checked.definition
        guard let stored = try await store.recipient(list: definition.list, email: recipient, segment: definition.segment) else {
            if let recipient { throw ValidationError("\(recipient) is not in list '\(definition.list)'") }
            throw ValidationError("the segment of campaign '\(campaign)' selects nobody in list '\(definition.list)'")
        }
        if configuration.dkim == nil {
            printError("warning: no dkim section in the configuration: this message would go unsigned")
        }
        var generator = SystemRandomNumberGenerator()
        let view = try MessagePreview(
            composer: checked.composer,
            recipient: TemplateRecipient(email: stored.email, attributes: stored.attributes, id: String(stored.id)),
            date: Date(), using: &generator)
        if let html {
            guard let page = view.html else { throw ValidationError("campaign '\(campaign)' has no HTML part") }
            try Data(page.utf8).write(to: URL(fileURLWithPath: html))
            printError("wrote the HTML part for \(stored.email) to \(html)")
        }
        if text {
            print(view.readable, terminator: "")
        } else if html == nil {
            for line in view.envelopeLines { printError(line) }
            FileHandle.standardOutput.write(Data(view.bytes))
        } else {
            for line in view.envelopeLines { printError(line) }
        }
    }
}
