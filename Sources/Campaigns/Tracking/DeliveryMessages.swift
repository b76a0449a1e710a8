import Foundation

/// The message of any delivery, rendered again as it was sent: what `salvo serve` shows
/// at `/v/` and where it finds a tracked link's target. Rendering is deterministic for a
/// delivery (its tokens, its recipient's fields), so the page and the links are the mail's.
///
/// A campaign's templates are parsed once and kept while its stored definition stays
/// the same; `salvo campaign update` makes the next request parse them again.
public actor DeliveryMessages {
    private let store: any WebStore
    private let configuration: SalvoConfiguration
    private let environment: [String: String]
    private var composers: [String: (definition: CampaignDefinition, composer: MessageComposer)] = [:]

    public init(store: any WebStore, configuration: SalvoConfiguration, environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.store = store
        self.configuration = configuration
        self.environment = environment
    }

    /// The composer of `delivery`'s campaign and the recipient as its message was
    /// rendered for.
    public func message(of delivery: TrackedDelivery) async throws -> (composer: MessageComposer, recipient: TemplateRecipient) {
        let recipient = TemplateRecipient(email: delivery.email, attributes: delivery.attributes, id: String(delivery.id), delivery: delivery.id)
        let (definition, sourcePath) = try await store.campaign(named: delivery.campaign)
        if let cached = composers[delivery.campaign], cached.definition == definition { return (cached.composer, recipient) }
        let template = try definition.messageTemplate(campaignFile: sourcePath)
        let composer = try definition.composer(template: template, configuration: configuration, environment: environment, signing: false)
        composers[delivery.campaign] = (definition, composer)
        return (composer, recipient)
    }
}
