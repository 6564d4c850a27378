// step-ca built from Debian's golang-github-smallstep-certificates-dev (0.19.0),
// wired like upstream cmd/step-ca/main.go: app flags = commands.AppCommand.Flags,
// top-level action runs commands.AppCommand, `version`/--version print the version.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/smallstep/certificates/authority"
	"github.com/smallstep/certificates/commands"
	"github.com/urfave/cli"
	"go.step.sm/cli-utils/command"
	"go.step.sm/cli-utils/command/version"
	"go.step.sm/cli-utils/step"
)

var Version, BuildTime = "0.19.0", "N/A" // -ldflags "-X main.BuildTime=..."

func main() {
	step.Set("Smallstep CA", Version, BuildTime)
	authority.GlobalVersion.Version = Version
	cli.VersionPrinter = func(c *cli.Context) { version.Command(c) }
	app := cli.NewApp()
	app.Name, app.HelpName, app.Version = "step-ca", "step-ca", step.Version()
	app.Flags = append(commands.AppCommand.Flags, cli.HelpFlag)
	app.Commands = command.Retrieve()
	app.Action = func(_ *cli.Context) error {
		set := flag.NewFlagSet(app.Name, flag.ContinueOnError)
		set.Parse(os.Args)
		return commands.AppCommand.Run(cli.NewContext(app, set, nil))
	}
	if err := app.Run(os.Args); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
