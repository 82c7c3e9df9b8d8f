-- HEAD requests (the /0.1 token check answers 204 without a body).
wrk.method = "HEAD"
