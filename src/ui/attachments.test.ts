import { describe, expect, it } from 'vitest';
import { PNG } from 'pngjs';
import { dataUrlBlob, formatClipLength, headerSize } from './attachments.ts';

const bytes = (...parts: (number[] | string)[]) => new Uint8Array(parts.flatMap((p) => (typeof p === 'string' ? [...p].map((c) => c.charCodeAt(0)) : p)));

describe('attachment checks', () => {
  it('reads the pixel size of PNG, JPEG, GIF and WebP headers without decoding', () => {
    const png = new PNG({ width: 37, height: 5 });
    expect(headerSize(new Uint8Array(PNG.sync.write(png)))).toEqual({ width: 37, height: 5 });
    // A PNG bomb's header: 100000 x 100000 stated, nothing behind it.
    const bomb = bytes([0x89], 'PNG\r\n\x1a\n', [0, 0, 0, 13], 'IHDR', [0, 1, 0x86, 0xa0, 0, 1, 0x86, 0xa0, 8, 6, 0, 0, 0]);
    expect(headerSize(bomb)).toEqual({ width: 100000, height: 100000 });
    // JPEG: SOI, an APP0 segment, then SOF0 with height 300, width 500.
    const jpeg = bytes([0xff, 0xd8, 0xff, 0xe0, 0, 16], 'JFIF\0', [1, 1, 0, 0, 1, 0, 1, 0, 0], [0xff, 0xc0, 0, 17, 8, 0x01, 0x2c, 0x01, 0xf4, 3, 1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1]);
    expect(headerSize(jpeg)).toEqual({ width: 500, height: 300 });
    // A DHT (C4) segment before the frame is not taken for it.
    const dht = bytes([0xff, 0xd8, 0xff, 0xc4, 0, 4, 0, 0], [0xff, 0xc2, 0, 11, 8, 0, 10, 0, 20, 1, 1, 0x11, 0]);
    expect(headerSize(dht)).toEqual({ width: 20, height: 10 });
    expect(headerSize(bytes('GIF89a', [0x40, 0x01, 0xf0, 0x00]))).toEqual({ width: 320, height: 240 });
    const vp8x = bytes('RIFF', [0, 0, 0, 0], 'WEBPVP8X', [10, 0, 0, 0, 0, 0, 0, 0], [0x7f, 0x02, 0x00, 0xdf, 0x01, 0x00]);
    expect(headerSize(vp8x)).toEqual({ width: 640, height: 480 });
    const vp8l = bytes('RIFF', [0, 0, 0, 0], 'WEBPVP8L', [0, 0, 0, 0, 0x2f], [(99 & 0xff), ((99 >> 8) & 0x3f) | ((49 & 0x3) << 6), (49 >> 2) & 0xff, 0], [0, 0, 0, 0, 0]);
    expect(headerSize(vp8l)).toEqual({ width: 100, height: 50 });
  });

  it('says nothing for formats it does not know or headers cut short', () => {
    expect(headerSize(bytes('not an image at all'))).toBeNull();
    expect(headerSize(bytes([0x89], 'PNG'))).toBeNull();
    expect(headerSize(bytes([0xff, 0xd8, 0xff, 0xe0, 0, 200, 1, 2, 3, 4, 5, 6]))).toBeNull();
    expect(headerSize(new Uint8Array(0))).toBeNull();
  });

  it('formats clip lengths and reads inline images of older saved conversations', async () => {
    expect([0.4, 1.6, 59.5, 61, 750].map(formatClipLength)).toEqual(['0:00', '0:02', '1:00', '1:01', '12:30']);
    const blob = dataUrlBlob('data:image/png;base64,AAEC/w==');
    expect(blob?.type).toBe('image/png');
    expect([...new Uint8Array(await blob!.arrayBuffer())]).toEqual([0, 1, 2, 255]);
    expect(dataUrlBlob('data:text/plain,hello')).toBeNull();
    expect(dataUrlBlob('data:image/png;base64,%%%')).toBeNull();
    expect(dataUrlBlob('https://example.org/a.png')).toBeNull();
  });
});
