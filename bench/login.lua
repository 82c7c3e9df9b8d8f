-- POST /0.1/token with HTTP Basic credentials (the AUTH variable, already
-- base64) and a JSON body.
wrk.method = "POST"
wrk.body = '{"backend": "xivo_user", "expiration": 3600}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Basic " .. os.getenv("AUTH")
