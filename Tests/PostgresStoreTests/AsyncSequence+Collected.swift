extension AsyncSequence {
    /// Every element, in order: the rows of one statement (a claim's batch, a few counts).
    func collected() async throws -> [Element] {
        var elements: [Element] = []
        for try await element in self { elements.append(element) }
        return elements
    }
}
