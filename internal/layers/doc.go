// Package layers holds no code: its test keeps dividere's imports running
// downward, from each layer to the ones below it only.
package layers
