// Package errwrap holds only a test: that no error is formatted into another with a verb other than %w,
// which would turn it into a string that errors.Is and errors.As cannot see through.
package errwrap
