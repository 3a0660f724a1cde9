# Ruby's Net::SMTP as the client under `smtpsim probe --client` (README.md here).
# ruby ruby_client.rb POLICY HOST PORT CA FROM USER PASSWORD MESSAGE RCPT [RCPT ...]
# required: enable_starttls (STARTTLS or fail) with the CA and host name verified;
# opportunistic: enable_starttls_auto without certificate checks. Exit 0 only when sent.
require 'net/smtp'
require 'openssl'
policy, host, port, ca, from, user, password, message, *to = ARGV
context = OpenSSL::SSL::SSLContext.new
if policy == 'required'
  context.ca_file = ca
  context.verify_mode = OpenSSL::SSL::VERIFY_PEER
  context.verify_hostname = true
else
  context.verify_mode = OpenSSL::SSL::VERIFY_NONE
end
smtp = Net::SMTP.new(host, port.to_i)
smtp.open_timeout = 8
smtp.read_timeout = 8
policy == 'required' ? smtp.enable_starttls(context) : smtp.enable_starttls_auto(context)
begin
  smtp.start('client.example.test', user, password, :plain) { |s| s.send_message(File.binread(message), from, *to) }
rescue StandardError => e
  warn "#{e.class}: #{e.message}"
  exit 1
end
