-- HEAD /0.1/token/{t}?scope=... cycling through the scopes of scopes.txt
-- (half granted, half refused). The token comes from the TOKEN variable.
local paths = {}
local token = os.getenv("TOKEN")
for scope in io.lines(os.getenv("SCOPES")) do
  paths[#paths + 1] = "/0.1/token/" .. token .. "?scope=" .. scope
end
local i = 0
wrk.method = "HEAD"
request = function()
  i = i % #paths + 1
  return wrk.format("HEAD", paths[i])
end
