-- POST /api/auth/register/ with a new e-mail address every time.
local counter = 0
function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
end

function init(args)
  n = 0
end

function request()
  n = n + 1
  local body = string.format(
    '{"email":"load-%d-%d@example.com","password":"a-Bench-pass-%d","password_confirm":"a-Bench-pass-%d"}',
    id, n, n, n)
  return wrk.format("POST", "/api/auth/register/", { ["Content-Type"] = "application/json" }, body)
end
