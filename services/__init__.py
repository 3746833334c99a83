"""Services shared by the Discord bot and the REST API: parse nothing, render nothing, decide everything."""
