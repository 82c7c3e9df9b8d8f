-- GET /0.1/token/{t}?scope=... cycling through the scopes of the SCOPES file
-- (half granted: 200, half refused: 403), for the token in TOKEN.
-- GET rather than HEAD: wrk cannot tell where a HEAD answer without
-- Content-Length ends when the requests come from request(), and the 403 has
-- none; GET also serializes the token's data, so this is the dearer check.
local paths = {}
local token = os.getenv("TOKEN")
for scope in io.lines(os.getenv("SCOPES")) do
  paths[#paths + 1] = "/0.1/token/" .. token .. "?scope=" .. scope
end
local i = 0
request = function()
  i = i % #paths + 1
  return wrk.format("GET", paths[i])
end
