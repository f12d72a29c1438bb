// Command benchapp is the Go binary of the benchmark image: a tiny program whose only
// purpose is to carry build information with several third-party modules.
package main

import (
	"fmt"
	"os"

	"github.com/google/uuid"
	"github.com/pkg/errors"
	"github.com/sirupsen/logrus"
	"github.com/spf13/pflag"
	"gopkg.in/yaml.v3"
)

// version is set at link time with -ldflags "-X main.version=…", as release builds do.
var version = "dev"

func main() {
	name := pflag.String("name", "bench", "name to print")
	pflag.Parse()

	out, err := yaml.Marshal(map[string]string{
		"id":      uuid.NewString(),
		"name":    *name,
		"version": version,
	})
	if err != nil {
		logrus.WithError(errors.Wrap(err, "encoding yaml")).Error("failed")
		os.Exit(1)
	}
	fmt.Print(string(out))
}
