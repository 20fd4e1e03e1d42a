// composecheck loads a Compose file with the Compose Specification's own Go loader (compose-go): it validates the
// file against the specification's JSON schema, interpolates variables from the environment and .env, checks the
// model's consistency (depends_on, volumes, networks), and prints the resolved project as JSON.
//
// compose-go's own command (cmd/) leaves the environment out of the model it loads, so ${VARS} never resolve there.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"

	"github.com/compose-spec/compose-go/v2/cli"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: composecheck COMPOSE_FILE")
		os.Exit(2)
	}
	wd, err := os.Getwd()
	if err != nil {
		fail(err)
	}
	options, err := cli.NewProjectOptions([]string{os.Args[1]},
		cli.WithWorkingDirectory(wd),
		cli.WithOsEnv,
		cli.WithEnvFiles(),
		cli.WithDotEnv,
		cli.WithConsistency(true),
	)
	if err != nil {
		fail(err)
	}
	project, err := options.LoadProject(context.Background())
	if err != nil {
		fail(err)
	}
	out, err := json.MarshalIndent(project, "", "  ")
	if err != nil {
		fail(err)
	}
	fmt.Println(string(out))
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, err)
	os.Exit(1)
}
