// A small web app that rolls out without losing requests (net/http only).
//
//	go build -o web . && ./web HOST PORT
//
// Readiness: GET /healthz answers 200 while serving. On SIGTERM (sent after the preStop sleep,
// when every proxy has dropped the pod) Shutdown stops accepting, closes idle keep-alive
// connections, waits for in-flight requests and the process exits 0.
package main

import (
	"context"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	host, port := "0.0.0.0", "8080"
	if len(os.Args) > 2 {
		host, port = os.Args[1], os.Args[2]
	}
	server := &http.Server{
		Addr: net.JoinHostPort(host, port),
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain")
			w.Write([]byte("ok\n"))
		}),
	}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM)
	go func() {
		<-stop
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		server.Shutdown(ctx)
	}()
	if err := server.ListenAndServe(); err != http.ErrServerClosed {
		log.Fatal(err)
	}
}
