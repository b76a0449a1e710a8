import ArgumentParser
import Campaigns
import Foundation

struct CampaignCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "campaign",
        abstract: "Create and list campaigns.",
        subcommands: [Create.self, List.self])

    struct Create: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check a campaign file and store it as a draft.",
            discussion: """
                Checks before storing anything: the list exists, the segment parses and uses \
                the list's fields, the templates exist, parse and use only the list's columns \
                and the built-ins (email, name, first_name, last_name, campaign, list, \
                unsubscribe_url, unsubscribe_token). Errors name the file and line.

                Example:
                  salvo campaign create samples/spring-sale.yml
                """)

        @OptionGroup var global: GlobalOptions

        @Argument(help: "The campaign's YAML file.")
        var file: String

        func run() throws {
            let (_, store) = try global.openStore()
            let definition = try CampaignDefinition.load(path: file)
            try store.createCampaign(definition, sourcePath: file)
            let configuration = try global.configuration()
            let variable = configuration.unsubscribe.secretEnv
            if try definition.messageTemplate(campaignFile: file).usesUnsubscribeToken,
               (ProcessInfo.processInfo.environment[variable] ?? "").isEmpty {
                printError("warning: the templates use {{unsubscribe_token}}: set \(variable) before preview and send")
            }
            let count = try store.count(list: definition.list, segment: definition.segment)
            print("created campaign '\(definition.name)': \(count) recipients of list '\(definition.list)'\(definition.segment.map { " match \($0)" } ?? "")")
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show the campaigns with their list, segment and state.",
            discussion: "Example:\n  salvo campaign list")

        @OptionGroup var global: GlobalOptions

        func run() throws {
            let (_, store) = try global.openStore()
            let campaigns = try store.campaigns()
            if campaigns.isEmpty {
                print("no campaigns yet: create one with `salvo campaign create FILE.yml`")
                return
            }
            for campaign in campaigns {
                print("\(campaign.name)  [\(campaign.state)]  list \(campaign.list)\(campaign.segment.map { ", segment \($0)" } ?? "")")
            }
        }
    }
}

struct PreviewCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "preview",
        abstract: "Print the exact bytes (headers, MIME parts, DKIM signature) one recipient would receive.",
        discussion: """
            Without --recipient, the first recipient of the campaign's segment. Templates are \
            read from their files again, so a preview shows the current text.

            Examples:
              salvo preview spring-sale
              salvo preview spring-sale --recipient ada.okafor@example.com > message.eml
            """)

    @OptionGroup var global: GlobalOptions

    @Argument(help: "The campaign's name.")
    var campaign: String

    @Option(help: ArgumentHelp("Preview for this address of the campaign's list.", valueName: "EMAIL"))
    var recipient: String?

    func run() throws {
        let (configuration, store) = try global.openStore()
        let (definition, sourcePath) = try store.campaign(named: campaign)
        guard let stored = try store.recipient(list: definition.list, email: recipient, segment: definition.segment) else {
            if let recipient { throw ValidationError("\(recipient) is not in list '\(definition.list)'") }
            throw ValidationError("the segment of campaign '\(campaign)' selects nobody in list '\(definition.list)'")
        }
        let composer = try definition.composer(campaignFile: sourcePath, configuration: configuration)
        if configuration.dkim == nil {
            printError("warning: no dkim section in the configuration: this message would go unsigned")
        }
        var generator = SystemRandomNumberGenerator()
        let message = try composer.compose(
            for: TemplateRecipient(email: stored.email, attributes: stored.attributes, id: String(stored.id)),
            date: Date(), using: &generator)
        FileHandle.standardOutput.write(Data(message.bytes))
    }
}
