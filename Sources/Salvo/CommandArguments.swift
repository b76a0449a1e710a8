import ArgumentParser

/// The store options and the campaign a command acts on (`salvo pause CAMPAIGN`,
/// `salvo status CAMPAIGN`, …): one declaration, so the argument reads the same in every
/// command's help.
struct CampaignArguments: ParsableArguments {
    @OptionGroup var global: GlobalOptions
    @Argument(help: "The campaign's name.") var campaign: String
}

/// The store options and the campaign file `campaign create` and `campaign update` read.
struct CampaignFileArguments: ParsableArguments {
    @OptionGroup var global: GlobalOptions

    @Argument(help: "The campaign's YAML file.")
    var file: String
}

/// The store options and the list a command acts on (`salvo lists delete LIST`, …).
struct ListArguments: ParsableArguments {
    @OptionGroup var global: GlobalOptions
    @Argument(help: "The list's name.") var list: String
}
