// Entry point. The work is in an async function because overload resolution in top-level code picks
// ArgumentParser's synchronous `main()`/`run()`, which only print the help.
await SimulatorCommand.launch()
