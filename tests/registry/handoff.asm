; The image tests/registry/testload.c leaves at 0x1000 for bhyve's hand-off:
; real mode, CS = DS = 0. It prints a line on COM1 and then polls COM1's line
; status register forever (every poll is an exit, so bhyvectl can read its
; registers on the software CPU too), until bhyvectl resets or powers it off.
; A pause of 16 x 65535 loop iterations between polls makes the exits far
; rarer: polling without one, the nested tier's L1 (KVM on QEMU's emulated
; SVM) now and then reported a triple fault for this loop (1 run in 30, and
; once in CI); with it, 0 in 60.
bits 16
org 0x1000
	mov dx, 0x3f8
	mov si, msg
.next:	lodsb
	test al, al
	jz .poll
	out dx, al
	jmp .next
.poll:	mov dx, 0x3fd
	mov bx, 0x1234
.loop:	in al, dx
	mov di, 16
.pause:	mov cx, 0xffff
.spin:	loop .spin
	dec di
	jnz .pause
	jmp .loop
msg:	db "handoff: running what the loader left", 13, 10, 0
