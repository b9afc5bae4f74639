// The local S3 endpoint of the EC2 tests: s3rver (npm), a third-party S3-compatible server, on 127.0.0.1 (or ADDRESS).
// It adds what s3rver answers NotImplemented and the staging bucket needs: the lifecycle, encryption,
// public-access-block and tagging settings of a bucket, kept as sent and given back on GET, and, as S3's own
// lifecycle does once a day, expiry of objects older than a lifecycle rule's Days (POST /_expire?now=ISO-8601).
// A bucket can be made another account's (POST /_foreign?bucket=NAME): it still answers everyone, as a public bucket
// does, but refuses (403) every request that names an expected bucket owner, as S3 does for a bucket of another account.
//
// usage: node local-s3.js S3RVER_MODULE_DIR DATA_DIR ACCESS_KEY SECRET_KEY [ADDRESS]
// Prints "listening PORT" once it serves; exits when its standard input closes (the test process is gone).
'use strict';

const [moduleDir, directory, accessKey, secretKey, address = '127.0.0.1'] = process.argv.slice(2);
const S3rver = require(moduleDir);
const AWSAccount = require(moduleDir + '/lib/models/account');

new AWSAccount(123456789012, 'local').createKeyPair(accessKey, secretKey);

const kept = ['lifecycle', 'encryption', 'publicAccessBlock', 'tagging'];
const settings = new Map();
const foreign = new Set();
const server = new S3rver({ address, port: 0, directory, silent: true });

function read(request) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    request.on('data', c => chunks.push(c));
    request.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    request.on('error', reject);
  });
}

async function expire(ctx) {
  const now = new Date(ctx.query.now || Date.now());
  let expired = 0;
  for (const [key, body] of settings) {
    const [bucket, setting] = key.split('?');
    const days = /<Days>(\d+)<\/Days>/.exec(body);
    if (setting !== 'lifecycle' || !days) continue;
    const limit = now.getTime() - Number(days[1]) * 24 * 3600 * 1000;
    const listed = await ctx.store.listObjects(bucket, { maxKeys: 100000 });
    for (const object of listed.objects) {
      if (object.lastModifiedDate.getTime() <= limit) {
        await ctx.store.deleteObject(bucket, object.key);
        expired++;
      }
    }
  }
  ctx.type = 'application/json';
  ctx.body = JSON.stringify({ expired });
}

// Before s3rver's own handlers (after its logger).
server.middleware.splice(1, 0, async (ctx, next) => {
  if (ctx.path === '/_expire' && ctx.method === 'POST') return expire(ctx);
  if (ctx.path === '/_foreign' && ctx.method === 'POST') {
    foreign.add(ctx.query.bucket);
    ctx.status = 204;
    return;
  }
  const named = /^\/([^/]+)/.exec(ctx.path);
  if (named && foreign.has(named[1]) && ctx.get('x-amz-expected-bucket-owner')) {
    ctx.status = 403;
    ctx.type = 'application/xml';
    ctx.body = '<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>';
    return;
  }
  const bucket = /^\/([^/]+)\/?$/.exec(ctx.path);
  const setting = bucket && kept.find(k => k in ctx.query);
  if (!setting) return next();
  const key = bucket[1] + '?' + setting;
  if (ctx.method === 'PUT') {
    settings.set(key, await read(ctx.req));
    ctx.status = 200;
    ctx.body = '';
  } else if (ctx.method === 'GET' && settings.has(key)) {
    ctx.type = 'application/xml';
    ctx.body = settings.get(key);
  } else if (ctx.method === 'GET') {
    ctx.status = 404;
    ctx.type = 'application/xml';
    ctx.body = `<?xml version="1.0" encoding="UTF-8"?><Error><Code>NoSuch${setting[0].toUpperCase()}${setting.slice(1)}Configuration</Code><Message>The ${setting} configuration does not exist</Message></Error>`;
  } else if (ctx.method === 'DELETE') {
    settings.delete(key);
    ctx.status = 204;
  } else {
    return next();
  }
});

server.run().then(({ port }) => console.log(`listening ${port}`));
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
