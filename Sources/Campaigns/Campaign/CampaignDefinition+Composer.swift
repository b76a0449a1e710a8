import Foundation
import MailMessage

extension CampaignDefinition {
    /// The campaign's templates, parsed: the subject and unsubscribe URL from the
    /// campaign file, the bodies from their files, partials from the folder of the first
    /// body template.
    public func messageTemplate(campaignFile: String) throws -> MessageTemplate {
        // A template named without a folder lives in the working directory: "." — never
        // "", which the partial loader would take for the root of the file system.
        let partials = (html ?? text).map { path -> String in
            let folder = (path as NSString).deletingLastPathComponent
            return folder.isEmpty ? "." : folder
        }
        return try MessageTemplate(
            subject: TemplateSource(name: "\(campaignFile) (subject)", text: subject),
            html: try html.map { path throws(TemplateError) in try TemplateSource.file(path) },
            text: try text.map { path throws(TemplateError) in try TemplateSource.file(path) },
            unsubscribeURL: unsubscribe.map { TemplateSource(name: "\(campaignFile) (unsubscribe)", text: $0) },
            preferencesURL: preferencesURL.map { TemplateSource(name: "\(campaignFile) (preferences)", text: $0) },
            partialsDirectory: partials,
            markingRawLinks: track?.clicks == true)
    }

    /// The preferences link: `preferences` as written, or the unsubscribe link with its
    /// `salvo serve` path `/u/{{unsubscribe_token}}` turned into `/p/{{unsubscribe_token}}`
    /// (the page lives beside the unsubscribe endpoint). Nil when neither applies.
    public var preferencesURL: String? {
        if let preferences { return preferences }
        let tail = "/u/{{unsubscribe_token}}"
        guard let unsubscribe, let range = unsubscribe.range(of: tail, options: .backwards) else { return nil }
        return unsubscribe.replacingCharacters(in: range, with: "/p/{{unsubscribe_token}}")
    }

    /// What renders this campaign's message for any recipient, with the configuration's
    /// DKIM key and unsubscribe settings.
    ///
    /// - Throws: when the DKIM key cannot be read, or the templates use
    ///   `{{unsubscribe_token}}` and no secret is configured (or it is too short).
    public func composer(campaignFile: String, configuration: SalvoConfiguration,
                         environment: [String: String] = ProcessInfo.processInfo.environment) throws -> MessageComposer {
        let template = try messageTemplate(campaignFile: campaignFile)
        if to != nil { try template.checkShared() }
        return try composer(template: template, configuration: configuration, environment: environment)
    }

    /// `composer` over templates already parsed (and checked by `SalvoStore.check`);
    /// `signing: false` leaves the DKIM keys unread (a page that shows the message).
    public func composer(template: MessageTemplate, configuration: SalvoConfiguration,
                         environment: [String: String] = ProcessInfo.processInfo.environment,
                         signing: Bool = true) throws -> MessageComposer {
        // The mailto target carries the recipient's token too, when a secret is there.
        let wantsSecret = template.usesUnsubscribeToken || configuration.unsubscribe.mailto != nil
        let secret = try wantsSecret ? configuration.unsubscribeSecret(environment: environment) : nil
        if template.usesUnsubscribeToken, secret == nil {
            throw CampaignError.missingUnsubscribeSecret(variable: configuration.unsubscribe.secretEnv, campaign: name)
        }
        var web: WebLinks?
        if tracks || template.usesViewURL {
            let use = tracks ? "tracks opens or clicks (track:)" : "uses {{view_url}}"
            guard let publicURL = configuration.web.publicURL else {
                throw CampaignError.webLinksUnavailable(campaign: name, use: use, missing: "web.public_url is not set in the configuration (the address salvo serve answers at, such as https://shop.example)")
            }
            guard let secret = try secret ?? configuration.unsubscribeSecret(environment: environment) else {
                throw CampaignError.webLinksUnavailable(campaign: name, use: use, missing: "\(configuration.unsubscribe.secretEnv) is not set (the unsubscribe secret signs these links too)")
            }
            web = WebLinks(publicURL: publicURL, secret: secret, opens: track?.opens ?? false, clicks: track?.clicks ?? false)
        }
        var settings = CampaignMessageSettings(
            campaign: name, list: list,
            from: try Mailbox(parsing: from),
            replyTo: try replyTo.map { text throws(MailboxError) in try Mailbox(parsing: text) },
            unsubscribeMailto: try configuration.unsubscribe.mailto.map { text throws(MailboxError) in try Mailbox(parsing: text) },
            unsubscribeSecret: secret,
            sharedTo: try to.map { text throws(MailboxError) in try Mailbox(parsing: text) })
        settings.web = web
        return try MessageComposer(template: template, settings: settings, signers: signing ? try configuration.dkimSigners() : [])
    }
}

extension SalvoConfiguration {
    /// The signers of the `dkim` section, one per key (none without it), for campaign
    /// mail and notices.
    public func dkimSigners() throws -> [DKIMSigner] {
        try dkimKeys.map { dkim in
            let key: DKIMKey
            do {
                key = try DKIMKey(contentsOfFile: dkim.key)
            } catch {
                throw ConfigurationError(file: file ?? "salvo.yml", line: nil, key: "dkim.key", message: "\(dkim.key): \(error)")
            }
            return try DKIMSigner(domain: dkim.domain, selector: dkim.selector, key: key)
        }
    }
}
