// Package setup tests the README's set-up commands themselves (`make infra`,
// `make dev`, `make stop`, `make clean`, all through scripts/*.sh) where a new
// user meets them: a checkout below a directory only root may enter, a second
// checkout on a machine whose servers already run, and a port another program
// holds. Each test works in a copy of the scripts in its own temporary
// directory, with its own ports, and leaves the shared servers running.
package setup
