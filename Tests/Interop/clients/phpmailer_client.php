<?php
// PHPMailer (Debian's libphp-phpmailer) as the client under `smtpsim probe --client` (README.md here).
// php phpmailer_client.php POLICY HOST PORT CA FROM USER PASSWORD MESSAGE RCPT [RCPT ...]
// required: SMTPSecure starttls with the CA and host name verified; opportunistic: SMTPAutoTLS
// (STARTTLS when offered) without certificate checks. PHPMailer writes its own message: the
// file's text is its body. Exit 0 only when every recipient was accepted.
require '/usr/share/php/libphp-phpmailer/autoload.php';
use PHPMailer\PHPMailer\PHPMailer;
[$self, $policy, $host, $port, $ca, $from, $user, $password, $message] = array_slice($argv, 0, 9);
$to = array_slice($argv, 9);
$m = new PHPMailer(true);
try {
    $m->isSMTP();
    $m->Host = $host;
    $m->Port = (int)$port;
    $m->Timeout = 8;
    $m->SMTPAuth = true;
    $m->Username = $user;
    $m->Password = $password;
    if ($policy === 'required') {
        $m->SMTPSecure = PHPMailer::ENCRYPTION_STARTTLS;
        $m->SMTPAutoTLS = false;
        $m->SMTPOptions = ['ssl' => ['cafile' => $ca, 'verify_peer' => true, 'verify_peer_name' => true]];
    } else {
        $m->SMTPSecure = '';
        $m->SMTPAutoTLS = true;
        $m->SMTPOptions = ['ssl' => ['verify_peer' => false, 'verify_peer_name' => false, 'allow_self_signed' => true]];
    }
    $m->setFrom($from);
    foreach ($to as $r) { $m->addAddress($r); }
    $m->Subject = 'smtpsim probe --client';
    $m->Body = file_get_contents($message);
    $m->send();
    exit(0);
} catch (Exception $e) {
    fwrite(STDERR, $e->getMessage() . "\n");
    exit(1);
}
