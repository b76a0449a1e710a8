import Foundation
import Mustache

/// A campaign's subject, HTML, text and unsubscribe-URL templates, parsed once and
/// rendered for each recipient.
///
/// Values are HTML-escaped in the HTML part and inserted as they are in the text part,
/// the subject and the unsubscribe URL (whose header safety is `MailMessage`'s job).
/// Partials (`{{> footer}}`) come from the templates folder: `footer.mustache`, read
/// only when a template includes it (a name may hold a sub-folder: `{{> emails/footer}}`).
public struct MessageTemplate: Sendable {
    /// Fields every recipient has without a list column of that name. `name`,
    /// `first_name` and `last_name` come from the list's columns when it has them and
    /// are otherwise derived from the recipient's display name.
    public static let builtInFields: Set<String> = [
        "email", "name", "first_name", "last_name", "campaign", "list", "unsubscribe_url", "unsubscribe_token",
        "view_url",
        "preferences_url",
    ]

    private static let textPragma = "{{% CONTENT_TYPE: TEXT}}\n"

    private let subject: MustacheTemplate
    private let html: MustacheTemplate?
    private let text: MustacheTemplate?
    private let unsubscribeURL: MustacheTemplate?
    /// The preferences page's URL, parsed only when a template uses `{{preferences_url}}`.
    private let preferencesURL: MustacheTemplate?
    private let htmlLibrary: MustacheLibrary
    /// The same templates compiled to literal and field pieces, where they have no more
    /// than plain field tags (nil: render with mustache).
    private let fastSubject: FieldTemplate?
    private let fastHTML: FieldTemplate?
    private let fastText: FieldTemplate?
    private let fastUnsubscribeURL: FieldTemplate?
    private let fastPreferencesURL: FieldTemplate?
    private let textLibrary: MustacheLibrary

    /// Every field reference in the templates and the partials they include.
    public let fieldReferences: [FieldReference]

    /// The distinct field names referenced.
    public var referencedFields: Set<String> { Set(fieldReferences.map(\.name)) }

    /// Whether any template uses `{{unsubscribe_token}}` (which needs the secret). Asked
    /// for every recipient, so worked out once.
    public let usesUnsubscribeToken: Bool

    /// Whether any template uses `{{view_url}}` (which needs `web.public_url` and the secret).
    public let usesViewURL: Bool

    public var hasHTML: Bool { html != nil }
    public var hasText: Bool { text != nil }

    /// Parses the templates. At least one of `html` and `text` must be given; a
    /// campaign with only HTML gets a text part generated from the rendered HTML.
    ///
    /// With `markingRawLinks` (a campaign that tracks clicks), a link whose `href` is a
    /// raw field (`{{{url}}}`) gets `data-notrack` in the HTML part and its partials, so
    /// click tracking leaves it as written.
    ///
    /// - Throws: `TemplateError` naming the file and line of a syntax error or of a
    ///   partial that is not in `partialsDirectory`.
    public init(
        subject: TemplateSource,
        html: TemplateSource?,
        text: TemplateSource?,
        unsubscribeURL: TemplateSource? = nil,
        preferencesURL: TemplateSource? = nil,
        partialsDirectory: String? = nil,
        markingRawLinks: Bool = false
    ) throws(TemplateError) {
        // The partials the templates include, and those they include in turn: each read
        // and parsed once; nothing else in the folder is touched.
        var partialSources: [String: TemplateSource] = [:]
        var references: [FieldReference] = []
        func scan(_ sources: [TemplateSource]) throws(TemplateError) {
            var queue = sources
            while let source = queue.popLast() {
                let scanner = MustacheTagScanner(source)
                if let problem = scanner.problem { throw problem }
                references += scanner.fields
                for partial in scanner.partials where partialSources[partial.name] == nil {
                    guard let partialSource = try Self.partial(partial.name, in: partialsDirectory) else {
                        throw TemplateError(file: source.name, line: partial.line, kind: .missingPartial(partial.name))
                    }
                    partialSources[partial.name] = partialSource
                    queue.append(partialSource)
                }
            }
        }
        try scan([subject, html, text, unsubscribeURL].compactMap { $0 })
        // The preferences URL counts (its token, its fields) only for a campaign that
        // links to the page.
        var preferencesSource: TemplateSource?
        if let use = references.first(where: { $0.name == "preferences_url" }) {
            guard let preferencesURL else {
                throw TemplateError(file: use.file, line: use.line, kind: .missingPreferencesURL)
            }
            preferencesSource = preferencesURL
            try scan([preferencesURL])
        }
        self.fieldReferences = references
        usesUnsubscribeToken = references.contains { $0.name == "unsubscribe_token" }
        usesViewURL = references.contains { $0.name == "view_url" }
        func marked(_ source: TemplateSource) -> TemplateSource {
            markingRawLinks ? TemplateSource(name: source.name, text: LinkTracking.markingRawLinks(in: source.text)) : source
        }
        let htmlSource = html.map(marked)
        var htmlLibrary = MustacheLibrary()
        var textLibrary = MustacheLibrary()
        for (name, source) in partialSources {
            htmlLibrary.register(try Self.parse(marked(source), asText: false), named: name)
            textLibrary.register(try Self.parse(source, asText: true), named: name)
        }
        self.htmlLibrary = htmlLibrary
        self.textLibrary = textLibrary
        self.subject = try Self.parse(subject, asText: true)
        self.html = try htmlSource.map { source throws(TemplateError) in try Self.parse(source, asText: false) }
        self.text = try text.map { source throws(TemplateError) in try Self.parse(source, asText: true) }
        self.unsubscribeURL = try unsubscribeURL.map { source throws(TemplateError) in try Self.parse(source, asText: true) }
        self.preferencesURL = try preferencesSource.map { source throws(TemplateError) in try Self.parse(source, asText: true) }
        fastSubject = FieldTemplate(subject.text, html: false)
        fastHTML = htmlSource.flatMap { FieldTemplate($0.text, html: true) }
        fastText = text.flatMap { FieldTemplate($0.text, html: false) }
        fastUnsubscribeURL = unsubscribeURL.flatMap { FieldTemplate($0.text, html: false) }
        fastPreferencesURL = preferencesSource.flatMap { FieldTemplate($0.text, html: false) }
    }

    /// Throws for the first field that is neither in `columns` nor built in, naming
    /// its file and line: what campaign creation calls with the list's columns.
    public func checkFields(available columns: some Sequence<String>) throws(TemplateError) {
        let known = Self.builtInFields.union(columns)
        for reference in fieldReferences where !known.contains(reference.name) {
            throw TemplateError(file: reference.file, line: reference.line, kind: .unknownField(reference.name))
        }
    }

    /// The fields a message shared by many recipients may use: the same for all of them.
    public static let sharedFields: Set<String> = ["campaign", "list", "unsubscribe_url"]

    /// Throws for the first field that differs from one recipient to the next, naming its
    /// file and line: a campaign with a fixed `to:` sends one message to many.
    public func checkShared() throws(TemplateError) {
        for reference in fieldReferences where !Self.sharedFields.contains(reference.name) {
            throw TemplateError(file: reference.file, line: reference.line, kind: .personalFieldInSharedMessage(reference.name))
        }
    }

    /// The rendered texts for one recipient's values.
    public struct Rendered: Hashable, Sendable {
        public var subject: String
        public var html: String?
        public var text: String?
        public var unsubscribeURL: String?
    }

    /// Renders every template with `values` (field name → value; missing fields
    /// render empty). The unsubscribe and preferences URLs are rendered first and are
    /// then available to the other templates as `{{unsubscribe_url}}` and
    /// `{{preferences_url}}`.
    public func render(_ values: [String: String]) -> Rendered {
        render(values, compiled: true)
    }

    /// `render` through swift-mustache alone, never the compiled pieces: what the
    /// compiled templates are checked against.
    func renderWithMustache(_ values: [String: String]) -> Rendered {
        render(values, compiled: false)
    }

    private func render(_ values: [String: String], compiled: Bool) -> Rendered {
        func text(_ fast: FieldTemplate?, _ template: MustacheTemplate?, _ library: MustacheLibrary,
                  _ values: [String: String]) -> String? {
            if compiled, let fast { return fast.render(values) }
            return template?.render(values, library: library)
        }
        var values = values
        let url = text(fastUnsubscribeURL, unsubscribeURL, textLibrary, values)
        if let url { values["unsubscribe_url"] = url }
        if let preferences = text(fastPreferencesURL, preferencesURL, textLibrary, values) { values["preferences_url"] = preferences }
        return Rendered(
            subject: text(fastSubject, subject, textLibrary, values) ?? "",
            html: text(fastHTML, html, htmlLibrary, values),
            text: text(fastText, self.text, textLibrary, values),
            unsubscribeURL: url
        )
    }

    private static func parse(_ source: TemplateSource, asText: Bool) throws(TemplateError) -> MustacheTemplate {
        do {
            // The pragma sits on a line of its own so the template's own first line
            // keeps its standalone-tag behaviour; error lines are shifted back.
            return try MustacheTemplate(string: asText ? textPragma + source.text : source.text)
        } catch let error as MustacheTemplate.ParserError {
            let line = error.context.lineNumber - (asText ? 1 : 0)
            throw TemplateError(file: source.name, line: max(line, 1), kind: .syntax(Self.describe(error.error)))
        } catch {
            throw TemplateError(file: source.name, line: nil, kind: .syntax(String(describing: error)))
        }
    }

    private static func describe(_ error: Error) -> String {
        guard let error = error as? MustacheTemplate.Error else { return String(describing: error) }
        switch error {
        case .sectionCloseNameIncorrect: return "section closed with a different name than it was opened"
        case .unfinishedName: return "tag not closed or name malformed"
        case .expectedSectionEnd: return "section opened but never closed"
        case .invalidSetDelimiter: return "malformed set-delimiter tag"
        case .transformAppliedToInheritanceSection: return "transform applied to an inherited section"
        case .illegalTokenInsideInheritSection: return "only blocks may appear inside a parent partial"
        case .textInsideInheritSection: return "text inside a parent partial"
        case .invalidConfigVariableSyntax: return "malformed pragma"
        case .unrecognisedConfigVariable: return "unknown pragma"
        }
    }

    /// `NAME.mustache` in `directory` (a name may hold slashes: `emails/footer`), or nil
    /// when there is no such file. An unreadable one is a `TemplateError` of its own.
    private static func partial(_ name: String, in directory: String?) throws(TemplateError) -> TemplateSource? {
        guard let directory, !name.isEmpty, !name.split(separator: "/").contains("..") else { return nil }
        let path = (directory.hasSuffix("/") ? directory : directory + "/") + name + ".mustache"
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        return try TemplateSource.file(path)
    }
}
