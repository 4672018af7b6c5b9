// Package apiparity holds only a test: that the library's exported API is the same in every build
// (Linux with and without cgo, macOS), so that code written against it compiles everywhere.
package apiparity
