// Package deploy holds the container and Kubernetes packaging; its test checks them against the binary.
package deploy
